"""Money as integer fen (分); rates as Decimal percent; one rounding rule.

Rounding is **half-up to the fen, per transaction** (``ROUND_HALF_UP``), the way Chinese
acquirers state it on settlement statements; totals are sums of rounded fees.

>>> yuan_to_fen("123.45")
12345
>>> fen_to_yuan(-5)
'-0.05'
>>> percent_of(12345, Decimal("0.6"))   # 74.07 fen -> 74
74
>>> percent_of(25, Decimal("0.6"))      # 0.15 fen -> 0
0
>>> percent_of(250, Decimal("0.6"))     # 1.5 fen -> 2 (half up)
2
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_HUNDRED = Decimal(100)
# No single amount, fee or monthly charge is above 10 billion CNY: the bound keeps every
# product well inside Decimal's 28 digits, so arithmetic never has to round or raise.
MAX_YUAN = 10**10


def yuan_to_fen(value: Any) -> int:
    """Parse yuan (``"12.30"``, ``12.3``, ``12``) into exact fen; more than 2 decimals is an
    error, never a silent rounding."""
    if isinstance(value, bool):
        raise ValueError("an amount cannot be true/false")
    if isinstance(value, int):
        if abs(value) > MAX_YUAN:
            raise ValueError(f"{value!r} is beyond any single amount ({MAX_YUAN} CNY)")
        return value * 100
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount in yuan") from None
    if not d.is_finite():
        raise ValueError(f"{value!r} is not an amount in yuan")
    if abs(d) > MAX_YUAN:
        raise ValueError(f"{value!r} is beyond any single amount ({MAX_YUAN} CNY)")
    fen = d * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{value!r} has more than 2 decimals (fen)")
    return int(fen)


def fen_to_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def format_yuan(fen: int) -> str:
    """Yuan for people to read, with thousands separators (files and JSON keep
    :func:`fen_to_yuan`).

    >>> format_yuan(123456789), format_yuan(-5), format_yuan(99999)
    ('1,234,567.89', '-0.05', '999.99')
    """
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def percent_of(amount_fen: int, percent: Decimal, *, rounding: str = ROUND_HALF_UP) -> int:
    """``amount_fen * percent / 100`` rounded to a whole fen (half-up by default)."""
    return int((Decimal(amount_fen) * percent / _HUNDRED).quantize(Decimal(1), rounding=rounding))


def percent_ceiling(amount_fen: int, percent: Decimal) -> int:
    """The most generous whole-fen reading of a percentage (used for regulated caps)."""
    return percent_of(amount_fen, percent, rounding=ROUND_UP)


# A pydantic field holding fen in memory, written as yuan wherever it is validated or
# serialised (files, JSON, constructor arguments: ``amount="12.30"`` or ``amount=12`` is
# 12.30 / 12 CNY); code that already holds fen sets it with ``model_copy(update=...)``.
Fen = Annotated[int, BeforeValidator(yuan_to_fen), PlainSerializer(fen_to_yuan, return_type=str)]
