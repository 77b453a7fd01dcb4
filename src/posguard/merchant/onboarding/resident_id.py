"""The 18-digit resident identity number (公民身份号码, GB 11643-1999).

Layout: address (region) code (6) + birth date YYYYMMDD (8) + sequence (3, odd = male)
+ check character (1). Check: weights ``2**(17-i) mod 11`` for i = 0..16,
``check = (12 - sum mod 11) mod 11`` with 10 written ``X``.

>>> check_resident_id("11010519491231002X").valid
True
>>> check_resident_id("440524188001010014").valid
True
>>> check_resident_id("110105194912310021").problem
<IdProblem.CHECK_DIGIT: 'check_digit'>
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final

WEIGHTS: Final = tuple(pow(2, 17 - i, 11) for i in range(17))
# First digit of the address code: the regions of GB/T 2260 start with 1-6 (and 7/8 for
# Hong Kong, Macao and Taiwan residents' permits, 9 for foreigners' permanent residence).
_REGION_FIRST: Final = "123456789"
EARLIEST_BIRTH: Final = date(1800, 1, 1)


class IdProblem(StrEnum):
    LENGTH = "length"
    CHARSET = "charset"
    REGION = "region"
    BIRTH_DATE = "birth_date"
    CHECK_DIGIT = "check_digit"


@dataclass(frozen=True, slots=True)
class IdCheck:
    problem: IdProblem | None
    position: int | None = None
    expected: str | None = None
    birth_date: date | None = None

    @property
    def valid(self) -> bool:
        return self.problem is None


def resident_id_check_character(first17: str) -> str:
    """The GB 11643 check character for 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def check_resident_id(number: str, *, today: date | None = None) -> IdCheck:
    """Check length, charset, region shape, birth date (real, not future) and check digit.

    A lower-case ``x`` is refused: the standard writes the check character as ``X``.
    """
    if len(number) != 18:
        return IdCheck(IdProblem.LENGTH)
    for i, c in enumerate(number[:17], start=1):
        if c not in "0123456789":
            return IdCheck(IdProblem.CHARSET, position=i)
    if number[17] not in "0123456789X":
        return IdCheck(IdProblem.CHARSET, position=18)
    if number[0] not in _REGION_FIRST or number[2:6] == "0000":
        return IdCheck(IdProblem.REGION, position=1)
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return IdCheck(IdProblem.BIRTH_DATE, position=7)
    if born < EARLIEST_BIRTH or born > (today or date.today()):
        return IdCheck(IdProblem.BIRTH_DATE, position=7)
    expected = resident_id_check_character(number[:17])
    if number[17] != expected:
        return IdCheck(IdProblem.CHECK_DIGIT, position=18, expected=expected)
    return IdCheck(None, birth_date=born)
