"""A realistic month of settled sales: a planted rate rise and a planted MCC switch are both
found with the exact money at stake; a clean month yields no finding at all.

The expected money is computed here independently of the package (plain Decimal
arithmetic, half-up per transaction) and pinned to the figure it gave for this seed."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest

from posguard.merchant.fees.audit import audit_fees
from posguard.merchant.fees.model import Contract, Rate, RateClass, SettledTransaction
from posguard.merchant.fees.synthetic import MccSwitch, RateRise, generate_month

CONTRACT = Contract.model_validate(
    {
        "merchant_id": "M-5812-001",
        "merchant_name": "示例餐馆",
        "mcc": "5812",
        "rates": {
            "debit": {"percent": "0.50", "cap": "20.00"},
            "credit": {"percent": "0.55"},
            "qr": {"percent": "0.38"},
            "international": {"percent": "2.50"},
        },
    }
)
SEED = 20261101
RISE = RateRise(RateClass.CREDIT, date(2026, 11, 16), Rate(percent=Decimal("0.68")))
SWITCH = MccSwitch("7011", date(2026, 11, 20), date(2026, 11, 24), share=0.3)
# what the contract says, written out by hand: (percent, cap in fen)
CONTRACTED = {"debit": ("0.50", 2000), "credit": ("0.55", None), "qr": ("0.38", None),
              "international": ("2.50", None)}  # fmt: skip
HOTEL_STANDARD = {"debit": ("0.55", 2000), "credit": ("0.60", None), "qr": ("0.38", None),
                  "international": ("2.50", None)}  # fmt: skip


def fee(amount_fen: int, percent: str, cap: int | None) -> int:
    raw = (Decimal(amount_fen) * Decimal(percent) / 100).quantize(Decimal(1), ROUND_HALF_UP)
    return int(raw) if cap is None else min(int(raw), cap)


def cls(t: SettledTransaction) -> str:
    if t.international:
        return "international"
    return "qr" if t.channel.value == "qr" else t.card_type.value


@pytest.fixture(scope="module")
def clean() -> list[SettledTransaction]:
    return generate_month(CONTRACT, year=2026, month=11, seed=SEED)


@pytest.fixture(scope="module")
def planted() -> list[SettledTransaction]:
    return generate_month(
        CONTRACT, year=2026, month=11, seed=SEED, rate_rise=RISE, mcc_switch=SWITCH
    )


def test_the_month_is_realistic(clean: list[SettledTransaction]) -> None:
    assert len(clean) > 2500
    assert {t.settled_on for t in clean} == {date(2026, 11, d) for d in range(1, 31)}
    mix = {c: sum(cls(t) == c for t in clean) / len(clean) for c in CONTRACTED}
    assert 0.45 < mix["qr"] < 0.65
    assert 0.18 < mix["debit"] < 0.32
    assert 0.12 < mix["credit"] < 0.24
    assert 0.005 < mix["international"] < 0.04
    # some debit fees hit the 20 CNY cap, so the cap is really exercised
    assert any(cls(t) == "debit" and t.fee == 2000 for t in clean)


def test_clean_month_has_no_finding(clean: list[SettledTransaction]) -> None:
    audit = audit_fees(clean, CONTRACT)
    assert audit.findings == ()
    assert audit.unpriced == ()
    assert audit.charged_fen == audit.expected_fen
    assert audit.expected_fen == sum(fee(t.amount, *CONTRACTED[cls(t)]) for t in clean)


def test_planted_rate_rise_and_mcc_switch_are_both_found_with_the_money(
    planted: list[SettledTransaction],
) -> None:
    # independent reckoning of what was planted
    switched = [t for t in planted if t.mcc == "7011"]
    risen = [
        t for t in planted
        if t.mcc == "5812" and cls(t) == "credit" and t.settled_on >= RISE.since
    ]  # fmt: skip
    mcc_stake = sum(
        fee(t.amount, *HOTEL_STANDARD[cls(t)]) - fee(t.amount, *CONTRACTED[cls(t)])
        for t in switched
    )
    rise_stake = sum(fee(t.amount, "0.68", None) - fee(t.amount, "0.55", None) for t in risen)
    rise_count = sum(fee(t.amount, "0.68", None) != fee(t.amount, "0.55", None) for t in risen)
    assert switched
    assert min(t.settled_on for t in switched) >= SWITCH.since
    assert max(t.settled_on for t in switched) <= SWITCH.until

    audit = audit_fees(planted, CONTRACT)
    by_kind = {f.kind: f for f in audit.findings}
    assert sorted(by_kind) == ["mcc_changed", "rate_changed"], audit.findings
    assert all(f.code == "REG.FEE_RATE_CHANGED" for f in audit.findings)

    mcc = by_kind["mcc_changed"]
    assert mcc.at_stake_fen == mcc_stake
    assert mcc.count == len(switched)
    assert mcc.since == min(t.settled_on for t in switched)
    assert "7011" in mcc.detail.en
    assert "Hotels" in mcc.detail.en
    assert "5812" in mcc.detail.en
    assert "宾馆酒店" in mcc.detail.zh

    rise = by_kind["rate_changed"]
    assert rise.at_stake_fen == rise_stake
    assert rise.count == rise_count
    assert rise.since == RISE.since
    assert "0.55%" in rise.detail.en
    assert "0.68" in rise.detail.en  # the rate actually applied, inferred from the fees
    assert rise.title.en.startswith("credit")

    # pinned figures for this seed (fen), so a silent change in the generator shows up
    assert (mcc.at_stake_fen, rise.at_stake_fen) == (MCC_STAKE_FEN, RISE_STAKE_FEN)
    assert audit.charged_fen - audit.expected_fen == mcc_stake + rise_stake


MCC_STAKE_FEN = 1193  # 11.93 CNY
RISE_STAKE_FEN = 10982  # 109.82 CNY


def test_tolerance_absorbs_one_fen_rounding_noise(clean: list[SettledTransaction]) -> None:
    noisy = [
        t.model_copy(update={"fee": t.fee + 1}) if i % 97 == 0 else t for i, t in enumerate(clean)
    ]
    assert [f.kind for f in audit_fees(noisy, CONTRACT).findings] == ["rate_changed"] * len(
        {cls(t) for i, t in enumerate(clean) if i % 97 == 0}
    )
    assert audit_fees(noisy, CONTRACT, tolerance_fen=1).findings == ()
