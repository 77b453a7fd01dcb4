"""Catalog advice must be safe to follow at the counter."""

from __future__ import annotations

import re

from posguard.catalog import default_catalog

_SPLIT = re.compile(r"(分成|拆成|拆单|拆开|分开刷|split|smaller (payments|amounts))", re.IGNORECASE)
_FORBID = re.compile(r"(不要|不得|禁止|do not|don't|never)", re.IGNORECASE)


def test_no_step_advises_splitting_a_sale() -> None:
    """A split sale (one purchase charged as several smaller payments to get under a
    limit) is forbidden by the acquirer/merchant agreement (UnionPay merchant rules; Visa
    Core Rules and Mastercard Rules prohibit split transactions). A step may mention a
    split only to forbid it."""
    for entry in default_catalog().values():
        for n, step in enumerate(entry.steps, start=1):
            for text in (step.zh, step.en):
                if _SPLIT.search(text):
                    assert _FORBID.search(text), f"{entry.code} step {n} advises a split: {text}"


def test_over_the_limit_offers_another_card_qr_or_the_issuer() -> None:
    steps = default_catalog()["TXN.EXCEEDS_LIMIT"].steps
    en = " ".join(s.en for s in steps)
    zh = "".join(s.zh for s in steps)
    assert "another card" in en
    assert "QR" in en
    assert "raise the limit" in en
    assert "换一张卡" in zh
    assert "扫码" in zh
    assert "发卡行提高限额" in zh
