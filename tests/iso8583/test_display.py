"""The safe view never shows a clear PAN, track, PIN block, ICC data or keys."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from posguard.card import contains_pan
from posguard.iso8583.display import describe, safe_view
from posguard.iso8583.spec import load_spec

PAN = "6222021234567890123"


def test_sensitive_fields_are_hidden() -> None:
    msg = {
        "t": "0200",
        "h": "6000010000603100000000",
        "2": PAN,
        "35": PAN + "D28121010000",
        "52": bytes.fromhex("0412AC89ABCDEF67"),
        "55": bytes(30),
        "62": bytes(40),
        "63": f"note {PAN}",
        "64": bytes.fromhex("A1C72E74EA3FA9B6"),
    }
    view = safe_view(msg)
    assert list(view) == ["h", "t", "2", "35", "52", "55", "62", "63", "64"]
    text = describe(load_spec("unionpay"), msg)
    for secret in (PAN, "0412AC89ABCDEF67", "D2812"):
        assert secret not in text
    assert not contains_pan(text)
    assert view["55"] == "<ICC data, 30 bytes>"
    assert view["62"] == "<working keys, 40 bytes>"
    assert view["64"] == "A1C72E74EA3FA9B6"
    assert "Primary Account Number" in text


def _with_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str(-total % 10)


@settings(max_examples=100, deadline=None)
@given(
    pan=st.from_regex(r"62[0-9]{11,16}", fullmatch=True),
    other=st.from_regex(r"4[0-9]{14}", fullmatch=True).map(_with_check_digit),
)
def test_no_pan_survives(pan: str, other: str) -> None:
    view = safe_view({"t": "0200", "2": pan, "48": pan, "35": pan + "D2812", "63": other})
    shown = " ".join(view.values())
    assert pan not in shown  # the message's own PAN, Luhn-valid or not
    assert other not in shown  # any Luhn-valid PAN in free text
    assert not contains_pan(shown)
