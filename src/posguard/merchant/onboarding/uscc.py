"""The 18-character Unified Social Credit Code (统一社会信用代码, GB 32100-2015).

Layout: registration authority (1) + organisation type (1) + region code (6) +
organisation code (9, itself GB 11714 with its own check character) + check character (1).
The check character over the first 17 characters uses weights ``3**i mod 31`` and the
31-character set ``0-9 A-H J-N P-R T-U W-Y`` (no I, O, S, V, Z):
``check = (31 - sum(value * weight) mod 31) mod 31``.

>>> check_uscc("91350100M000100Y43").valid
True
>>> check_uscc("91350100M000100Y42").problem
<UsccProblem.CHECK_CHARACTER: 'check_character'>
>>> uscc_check_character("91350100M000100Y4")
'3'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

CHARSET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE: Final = {c: i for i, c in enumerate(CHARSET)}
WEIGHTS: Final = tuple(pow(3, i, 31) for i in range(17))
# GB 11714 (organisation code) uses the full alphabet A=10 .. Z=35, weights below.
_ORG_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)

# Registration authority code (char 1) -> allowed organisation type codes (char 2).
# Table 1 of GB 32100-2015.
AUTHORITY_TYPES: Final[dict[str, str]] = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 编办直管群众团体, 其他
    "2": "19",  # 外交
    "3": "123459",  # 司法行政
    "4": "19",  # 文化
    "5": "1239",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",  # 旅游
    "7": "129",  # 宗教
    "8": "19",  # 工会
    "9": "123",  # 工商: 企业, 个体工商户, 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室
    "N": "1239",  # 农业
    "Y": "1",  # 其他
}

# Organisation type (authority 9 = market regulation) the merchant types map to.
ENTERPRISE: Final = "91"
INDIVIDUAL_BUSINESS: Final = "92"
FARMER_COOPERATIVE: Final = "93"


class UsccProblem(StrEnum):
    LENGTH = "length"
    CHARSET = "charset"
    AUTHORITY = "authority"
    REGION = "region"
    CHECK_CHARACTER = "check_character"


@dataclass(frozen=True, slots=True)
class UsccCheck:
    """Outcome of checking one code; ``position`` is 1-based where that makes sense."""

    problem: UsccProblem | None
    position: int | None = None
    expected: str | None = None
    org_code_consistent: bool | None = None

    @property
    def valid(self) -> bool:
        return self.problem is None


def uscc_check_character(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters (already in the charset)."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def org_code_check_character(first8: str) -> str:
    """The GB 11714 check character of an organisation code's first 8 characters."""
    total = sum(int(c, 36) * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True))
    c9 = 11 - total % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


def check_uscc(code: str) -> UsccCheck:
    """Check shape, charset, authority/type pair, region shape and the check character."""
    if len(code) != 18:
        return UsccCheck(UsccProblem.LENGTH)
    for i, c in enumerate(code, start=1):
        if c not in _VALUE:
            return UsccCheck(UsccProblem.CHARSET, position=i)
    allowed = AUTHORITY_TYPES.get(code[0])
    if allowed is None:
        return UsccCheck(UsccProblem.AUTHORITY, position=1)
    if code[1] not in allowed:
        return UsccCheck(UsccProblem.AUTHORITY, position=2)
    for i in range(2, 8):
        if not code[i].isdigit():
            return UsccCheck(UsccProblem.REGION, position=i + 1)
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        return UsccCheck(UsccProblem.CHECK_CHARACTER, position=18, expected=expected)
    org = code[8:17]
    consistent = org_code_check_character(org[:8]) == org[8]
    return UsccCheck(None, org_code_consistent=consistent)
