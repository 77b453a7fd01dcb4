"""Local card checks: Luhn, PAN length and brand by BIN, expiry, and the one masking step.

Every module that shows, logs or emits a card number goes through :func:`mask_pan`
(or :func:`redact` for free text). Nothing else formats a PAN.

>>> luhn_valid("6222021234567890123")
False
>>> luhn_valid("4111111111111111")
True
>>> brand_of("6212345678901232")
<Brand.UNIONPAY: 'unionpay'>
>>> mask_pan("6212345678901232")
'621234******1232'
>>> redact("card=4111111111111111 amt=100")
'card=411111******1111 amt=100'
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from posguard.common.errors import CardError

__all__ = [
    "Brand",
    "CardCheck",
    "brand_of",
    "check_card",
    "check_expiry",
    "check_pan",
    "contains_pan",
    "expiry_last_day",
    "luhn_valid",
    "mask_pan",
    "plausible_pan",
    "redact",
]


class Brand(StrEnum):
    UNIONPAY = "unionpay"
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    JCB = "jcb"
    DISCOVER = "discover"
    UNKNOWN = "unknown"


# (brand, BIN range low, high, prefix length, allowed PAN lengths). Ranges follow the
# networks' published IIN tables; the first match wins, so narrower ranges come first.
_BIN_TABLE: tuple[tuple[Brand, int, int, int, frozenset[int]], ...] = (
    (Brand.AMEX, 34, 34, 2, frozenset({15})),
    (Brand.AMEX, 37, 37, 2, frozenset({15})),
    (Brand.JCB, 3528, 3589, 4, frozenset({16, 17, 18, 19})),
    (Brand.DISCOVER, 6011, 6011, 4, frozenset({16, 17, 18, 19})),
    (Brand.DISCOVER, 644, 649, 3, frozenset({16, 17, 18, 19})),
    (Brand.DISCOVER, 65, 65, 2, frozenset({16, 17, 18, 19})),
    (Brand.UNIONPAY, 62, 62, 2, frozenset({16, 17, 18, 19})),
    (Brand.UNIONPAY, 81, 81, 2, frozenset({16, 17, 18, 19})),
    (Brand.MASTERCARD, 51, 55, 2, frozenset({16})),
    (Brand.MASTERCARD, 2221, 2720, 4, frozenset({16})),
    (Brand.VISA, 4, 4, 1, frozenset({13, 16, 19})),
)

_PAN_RE = re.compile(r"^[0-9]{12,19}$")
# A run of 12-19 digits, optionally split by single spaces or dashes, not inside a longer number.
_PAN_IN_TEXT = re.compile(r"(?<![0-9])(?:[0-9][ -]?){11,18}[0-9](?![0-9])")
# A run of digits with up to 3 group separators between them (see pan_candidates).
_RUN_IN_TEXT = re.compile(r"[0-9](?:[\s\-._/\\]{0,3}[0-9])*")
_DIGITS = re.compile(r"[0-9]+")


def luhn_valid(pan: str) -> bool:
    """True when ``pan`` (digits only) passes the Luhn mod-10 check."""
    if not pan.isdigit() or not pan.isascii():
        return False
    digits = pan.encode("ascii")[::-1]
    # Every second digit from the right counts doubled (its digit sum): the sums run in C, as
    # this check is on every card request the host decides.
    plain = digits[::2]
    total = sum(plain) - 48 * len(plain) + sum(digits[1::2].translate(_LUHN_DOUBLED))
    return total % 10 == 0


_LUHN_DOUBLED = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))


def brand_of(pan: str) -> Brand:
    """The card brand from the BIN (issuer identification number) prefix."""
    for brand, low, high, width, _lengths in _BIN_TABLE:
        if len(pan) >= width and pan[:width].isdigit() and low <= int(pan[:width]) <= high:
            return brand
    return Brand.UNKNOWN


def mask_pan(pan: str) -> str:
    """Show at most the first 6 and last 4 digits; everything between becomes ``*``.

    Short values are masked harder (never more than half the digits shown), so a
    truncated or odd value never leaks in clear.

    >>> mask_pan("4111111111111111")
    '411111******1111'
    >>> mask_pan("12345678")
    '****5678'
    >>> mask_pan("")
    ''
    """
    pan = pan.strip()
    n = len(pan)
    if n >= 13:
        return pan[:6] + "*" * (n - 10) + pan[-4:]
    if n >= 8:
        return "*" * (n - 4) + pan[-4:]
    return "*" * n


def redact(text: str) -> str:
    """Mask every PAN-looking run of digits (12-19, Luhn-valid) inside free text.

    Used by the logging processor and by event validation; Luhn keeps phone
    numbers and amounts from being mangled while catching real card numbers.
    """

    def _mask(m: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", m.group(0))
        if 12 <= len(digits) <= 19 and luhn_valid(digits):
            return mask_pan(digits)
        return m.group(0)

    return _PAN_IN_TEXT.sub(_mask, text)


def plausible_pan(digits: str) -> bool:
    """True when ``digits`` could be a real card number: a known brand's BIN, a length that
    brand issues, and a valid Luhn digit.

    Stricter than :func:`redact`'s test on purpose: it is used to *refuse* data, and a
    15-digit merchant id or a 12-digit RRN passes Luhn one time in ten by chance.

    >>> plausible_pan("6212345678901232"), plausible_pan("898310048161234")
    (True, False)
    """
    if not digits.isdigit() or not digits.isascii():
        return False
    brand = brand_of(digits)
    for b, low, high, width, lengths in _BIN_TABLE:
        if b is brand and low <= int(digits[:width]) <= high:
            return len(digits) in lengths and luhn_valid(digits)
    return False


def pan_text(text: str) -> str:
    """``text`` the way card numbers are looked for in it: NFKC (full-width digits become
    ASCII), every other Unicode decimal digit as its ASCII digit, format characters (zero-width
    space and joiners, word joiner, BOM) removed, any other space as a plain space.

    >>> pan_text("６２１２\u200b3456")
    '62123456'
    """
    if text.isascii():
        return text
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", text):
        if ch.isascii():
            out.append(ch)
        elif (digit := unicodedata.decimal(ch, None)) is not None:
            out.append(str(digit))
        elif unicodedata.category(ch) == "Cf":
            continue
        else:
            out.append(" " if ch.isspace() else ch)
    return "".join(out)


def pan_candidates(text: str) -> Iterator[str]:
    """Every digit string in ``text`` that could be a card number written in groups: runs of
    digits with up to 3 separators (whitespace, ``-``, ``.``, ``_``, ``/``, ``\\``) between
    them, after :func:`pan_text`; from each run, the joined digits of every sequence of whole
    groups 12 to 19 digits long. A longer unbroken number is none (an id, not a card).

    >>> list(pan_candidates("ref 4111.1111/1111_1111 x"))
    ['411111111111', '4111111111111111', '111111111111']
    """
    for m in _RUN_IN_TEXT.finditer(pan_text(text)):
        if len(m.group()) < 12:
            continue
        yield from group_windows(_DIGITS.findall(m.group()))


def group_windows(groups: Sequence[str]) -> Iterator[str]:
    """The digits of every run of whole consecutive digit groups, 12 to 19 digits long (the
    lengths a card number can have), shortest first from each group on.

    >>> list(group_windows(["6212", "3456", "7890", "1232"]))
    ['621234567890', '6212345678901232', '345678901232']
    """
    for i in range(len(groups)):
        digits = ""
        for group in groups[i:]:
            digits += group
            if len(digits) > 19:
                break
            if len(digits) >= 12:
                yield digits


def contains_pan(text: str) -> bool:
    """True when ``text`` holds something that plausibly is a clear card number, however its
    groups are separated (:func:`pan_candidates`).

    >>> contains_pan("card 4111 1111 1111 1111"), contains_pan("mid 898310048161234")
    (True, False)
    >>> contains_pan("４１１１\u200b1111  1111_1111")
    True
    """
    return any(plausible_pan(digits) for digits in pan_candidates(text))


@dataclass(frozen=True, slots=True)
class CardCheck:
    """The outcome of the local checks: the brand, and the masked PAN for display."""

    brand: Brand
    masked: str


def check_pan(pan: str) -> Brand:
    """Validate format, length for the brand and Luhn; raise :class:`CardError` with a CARD.* code.

    >>> check_pan("4111111111111112")
    Traceback (most recent call last):
    ...
    posguard.common.errors.CardError: card number fails the Luhn check (pan=411111******1112)
    """
    if not _PAN_RE.match(pan):
        raise CardError(
            "card number must be 12 to 19 digits", code="CARD.BAD_FORMAT", length=len(pan)
        )
    brand = brand_of(pan)
    for b, low, high, width, lengths in _BIN_TABLE:
        if b is brand and low <= int(pan[:width]) <= high:
            if len(pan) not in lengths:
                raise CardError(
                    f"{brand.value} card numbers have {sorted(lengths)} digits, not {len(pan)}",
                    code="CARD.BAD_FORMAT",
                    pan=mask_pan(pan),
                )
            break
    if not luhn_valid(pan):
        raise CardError(
            "card number fails the Luhn check", code="CARD.LUHN_INVALID", pan=mask_pan(pan)
        )
    return brand


def expiry_last_day(yymm: str) -> date:
    """The last valid day of a card expiring ``YYMM`` (cards are good to the end of the month).

    >>> expiry_last_day("2402")
    datetime.date(2024, 2, 29)
    """
    if len(yymm) != 4 or not yymm.isdigit() or not 1 <= int(yymm[2:]) <= 12:
        raise CardError("expiry must be YYMM with month 01-12", code="CARD.BAD_FORMAT", expiry=yymm)
    year, month = 2000 + int(yymm[:2]), int(yymm[2:])
    return date(year, month, calendar.monthrange(year, month)[1])


def check_expiry(yymm: str, today: date) -> None:
    """Raise :class:`CardError` (CARD.EXPIRED) when the card's month has ended before ``today``."""
    if expiry_last_day(yymm) < today:
        raise CardError("card has expired", code="CARD.EXPIRED", expiry=yymm)


def check_card(pan: str, expiry: str, today: date) -> CardCheck:
    """All local checks a terminal runs before anything is sent to the host."""
    brand = check_pan(pan)
    check_expiry(expiry, today)
    return CardCheck(brand=brand, masked=mask_pan(pan))
