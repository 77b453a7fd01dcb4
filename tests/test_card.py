"""Local card checks and the one masking step."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posguard.card import (
    Brand,
    brand_of,
    check_card,
    check_expiry,
    check_pan,
    contains_pan,
    expiry_last_day,
    luhn_valid,
    mask_pan,
    redact,
)
from posguard.common.errors import CardError


def _with_check_digit(body: str) -> str:
    for d in "0123456789":
        if luhn_valid(body + d):
            return body + d
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("pan", "brand"),
    [
        ("4111111111111111", Brand.VISA),
        ("5555555555554444", Brand.MASTERCARD),
        ("2223003122003222", Brand.MASTERCARD),
        ("378282246310005", Brand.AMEX),
        ("3530111333300000", Brand.JCB),
        ("6011111111111117", Brand.DISCOVER),
        ("6212345678901232", Brand.UNIONPAY),
        ("6222021234567890128", Brand.UNIONPAY),
    ],
)
def test_published_test_numbers_pass_and_have_their_brand(pan: str, brand: Brand) -> None:
    assert luhn_valid(pan)
    assert check_pan(pan) is brand
    assert brand_of(pan) is brand


@pytest.mark.parametrize(
    ("pan", "code"),
    [
        ("4111111111111112", "CARD.LUHN_INVALID"),
        ("41111111111", "CARD.BAD_FORMAT"),  # 11 digits
        ("4111-1111-1111-1111", "CARD.BAD_FORMAT"),
        ("37828224631000", "CARD.BAD_FORMAT"),  # Amex with 14 digits
        ("", "CARD.BAD_FORMAT"),
        ("６２１２３４５６７８９０１２３２", "CARD.BAD_FORMAT"),  # full-width digits
    ],
)
def test_bad_numbers_are_refused_with_their_catalog_code(pan: str, code: str) -> None:
    with pytest.raises(CardError) as info:
        check_pan(pan)
    assert info.value.code == code
    assert "4111111111111112" not in str(info.value)


@given(st.from_regex(r"[0-9]{11,18}", fullmatch=True), st.integers(0, 17), st.integers(1, 9))
@settings(max_examples=200)
def test_any_single_digit_change_breaks_luhn(body: str, pos: int, delta: int) -> None:
    pan = _with_check_digit(body)
    pos %= len(pan)
    changed = pan[:pos] + str((int(pan[pos]) + delta) % 10) + pan[pos + 1 :]
    assert not luhn_valid(changed)


@given(st.from_regex(r"[0-9]{0,25}", fullmatch=True))
def test_mask_shows_at_most_first_six_last_four(pan: str) -> None:
    masked = mask_pan(pan)
    shown = sum(c.isdigit() for c in masked)
    assert len(masked) == len(pan)
    if len(pan) >= 13:  # PCI DSS: first 6 and last 4 at most, with something hidden between
        assert masked[:6] == pan[:6]
        assert masked[-4:] == pan[-4:]
        assert set(masked[6:-4]) == {"*"}
    else:  # short or odd values: never more than half in clear
        assert shown <= len(pan) // 2


def test_expiry_runs_to_the_end_of_the_month() -> None:
    assert expiry_last_day("2602") == date(2026, 2, 28)
    check_expiry("2611", date(2026, 11, 30))
    with pytest.raises(CardError) as info:
        check_expiry("2610", date(2026, 11, 1))
    assert info.value.code == "CARD.EXPIRED"
    for bad in ("2613", "26", "ab01", "260"):
        with pytest.raises(CardError) as info:
            expiry_last_day(bad)
        assert info.value.code == "CARD.BAD_FORMAT"


def test_check_card_returns_brand_and_masked_number() -> None:
    result = check_card("6212345678901232", "3012", date(2026, 11, 25))
    assert result.brand is Brand.UNIONPAY
    assert result.masked == "621234******1232"


def test_redact_masks_card_numbers_in_free_text_only() -> None:
    text = "pan 4111 1111 1111 1111, tel 13800138000, amount 000000012345, order 4111111111111112"
    out = redact(text)
    assert "411111******1111" in out
    assert "13800138000" in out
    assert "000000012345" in out
    assert "4111111111111112" in out  # not Luhn-valid: not a card number
    assert contains_pan(text)
    assert not contains_pan(out)


@pytest.mark.parametrize(
    "text",
    [
        "898310048161234",  # a merchant id that passes Luhn by chance
        "rrn 000000000018",  # a 12-digit RRN that passes Luhn
        "13800138000",
        "9999999999999995",  # Luhn-valid but no brand issues it
    ],
)
def test_ids_that_pass_luhn_by_chance_are_not_card_numbers(text: str) -> None:
    assert not contains_pan(text)


@given(st.sampled_from(["4", "51", "62", "34", "3530"]), st.integers(0, 10**17))
def test_every_plausible_brand_number_is_caught_in_text(prefix: str, n: int) -> None:
    length = {"4": 16, "51": 16, "62": 19, "34": 15, "3530": 16}[prefix]
    body = (prefix + str(n)).ljust(length - 1, "7")[: length - 1]
    pan = _with_check_digit(body)
    assert contains_pan(f"paid with {pan} today")
    assert not contains_pan(redact(f"paid with {pan} today"))
