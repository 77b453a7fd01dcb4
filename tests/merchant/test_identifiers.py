"""GB 32100 (credit code) and GB 11643 (resident ID) check rules: published examples
worked by hand, and property tests that any one changed character is caught."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posguard.merchant.onboarding.resident_id import (
    IdProblem,
    check_resident_id,
    resident_id_check_character,
)
from posguard.merchant.onboarding.uscc import (
    CHARSET,
    UsccProblem,
    check_uscc,
    org_code_check_character,
    uscc_check_character,
)

TODAY = date(2026, 11, 25)


# --- GB 32100-2015 -------------------------------------------------------------------------
# 91350100M000100Y43, the example printed in most write-ups of GB 32100, by hand:
#   values   9  1  3  5   0  1  0  0  M=21  0  0  0  1  0  0  Y=30  4
#   weights  1  3  9 27  19 26 16 17  20   29 25 13  8 24 10  30   28
#   products 9  3 27 135  0 26  0  0  420   0  0  0  8  0  0  900  112
#   sum 1640; 1640 mod 31 = 28; 31 - 28 = 3  -> check character '3'.
# Its organisation-code part M000100Y4 also passes GB 11714: 22*3 + 1*5 + 34*2 = 139,
# 139 mod 11 = 7, 11 - 7 = 4 -> '4'.
VALID_USCC = ["91350100M000100Y43"]


def test_published_uscc_is_valid_and_hand_computation_matches() -> None:
    assert uscc_check_character("91350100M000100Y4") == "3"
    assert org_code_check_character("M000100Y") == "4"
    result = check_uscc("91350100M000100Y43")
    assert result.valid
    assert result.org_code_consistent is True


@pytest.mark.parametrize(
    ("code", "problem", "position"),
    [
        ("91350100M000100Y42", UsccProblem.CHECK_CHARACTER, 18),  # check char off by one
        ("91350100M000100Y34", UsccProblem.CHECK_CHARACTER, 18),  # last two swapped
        ("91350100M000100Y4", UsccProblem.LENGTH, None),  # 17 characters
        ("91350100M000100Y43X", UsccProblem.LENGTH, None),
        ("91350100I000100Y43", UsccProblem.CHARSET, 9),  # I is not in the GB 32100 set
        ("91350100O000100Y43", UsccProblem.CHARSET, 9),  # O either
        ("91350100m000100Y43", UsccProblem.CHARSET, 9),  # lower case
        ("B1350100M000100Y43", UsccProblem.AUTHORITY, 1),  # no authority B
        ("97350100M000100Y43", UsccProblem.AUTHORITY, 2),  # market regulation has types 1-3
        ("913501A0M000100Y43", UsccProblem.REGION, 7),  # region code must be digits
    ],
)
def test_invalid_uscc_names_the_problem(code: str, problem: UsccProblem, position: int) -> None:
    result = check_uscc(code)
    assert not result.valid
    assert result.problem is problem
    assert result.position == position


def test_check_character_reported_for_mistyped_code() -> None:
    assert check_uscc("91350100M000100Y42").expected == "3"


@st.composite
def valid_usccs(draw: st.DrawFn) -> str:
    head = draw(st.sampled_from(["91", "92", "93", "11", "12", "51", "52", "Y1"]))
    region = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=6, max_size=6)))
    org = "".join(draw(st.lists(st.sampled_from(CHARSET), min_size=9, max_size=9)))
    first17 = head + region + org
    return first17 + uscc_check_character(first17)


@settings(max_examples=300, deadline=None)
@given(code=valid_usccs(), data=st.data())
def test_one_changed_character_in_a_uscc_is_always_caught(code: str, data: st.DataObject) -> None:
    assert check_uscc(code).valid
    pos = data.draw(st.integers(0, 17))
    # any other character: from the code's own alphabet (the hard case) or anything printable
    other = data.draw(
        st.sampled_from(CHARSET) | st.characters(min_codepoint=32, max_codepoint=0x7E)
    )
    if other == code[pos]:
        other = CHARSET[(CHARSET.index(code[pos]) + 1) % len(CHARSET)]
    mutated = code[:pos] + other + code[pos + 1 :]
    assert not check_uscc(mutated).valid


def test_every_single_substitution_of_the_published_uscc_is_caught() -> None:
    code = VALID_USCC[0]
    for pos in range(18):
        for c in CHARSET:
            if c != code[pos]:
                assert not check_uscc(code[:pos] + c + code[pos + 1 :]).valid, (pos, c)


# --- GB 11643-1999 -------------------------------------------------------------------------
# The two examples printed in GB 11643-1999 itself, by hand (weights 7 9 10 5 8 4 2 1 6 3 7 9
# 10 5 8 4 2):
#   11010519491231002X: 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167; 167 mod 11 = 2;
#                       (12 - 2) mod 11 = 10 -> 'X'
#   440524188001010014: 28+36+0+25+16+16+2+8+48+0+0+9+0+5+0+0+2 = 195; 195 mod 11 = 8;
#                       (12 - 8) mod 11 = 4 -> '4'   (born 1880-01-01: still a valid date)
VALID_IDS = [("11010519491231002X", date(1949, 12, 31)), ("440524188001010014", date(1880, 1, 1))]


@pytest.mark.parametrize(("number", "born"), VALID_IDS)
def test_published_resident_ids_are_valid(number: str, born: date) -> None:
    assert resident_id_check_character(number[:17]) == number[17]
    result = check_resident_id(number, today=TODAY)
    assert result.valid
    assert result.birth_date == born


@pytest.mark.parametrize(
    ("number", "problem", "position"),
    [
        ("110105194912310021", IdProblem.CHECK_DIGIT, 18),  # X written as 1
        ("11010519491231002x", IdProblem.CHARSET, 18),  # lower-case x
        ("440524188001010015", IdProblem.CHECK_DIGIT, 18),
        ("11010519491231002", IdProblem.LENGTH, None),  # 17 digits
        ("110105491231002", IdProblem.LENGTH, None),  # old 15-digit number
        ("1101051949123100X2", IdProblem.CHARSET, 17),  # X not at the end
        ("110105194902300021", IdProblem.BIRTH_DATE, 7),  # 30 February
        ("110105210001010011", IdProblem.BIRTH_DATE, 7),  # born in 2100
        ("010105194912310021", IdProblem.REGION, 1),  # no region starts with 0
    ],
)
def test_invalid_resident_ids_name_the_problem(
    number: str, problem: IdProblem, position: int | None
) -> None:
    result = check_resident_id(number, today=TODAY)
    assert result.problem is problem
    assert result.position == position


@st.composite
def valid_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["110105", "440524", "310115", "350102", "510104", "650102"]))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2008, 12, 31)))
    seq = draw(st.integers(0, 999))
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + resident_id_check_character(first17)


@settings(max_examples=300, deadline=None)
@given(number=valid_ids(), data=st.data())
def test_one_changed_character_in_an_id_is_always_caught(number: str, data: st.DataObject) -> None:
    assert check_resident_id(number, today=TODAY).valid
    pos = data.draw(st.integers(0, 17))
    other = data.draw(st.sampled_from("0123456789X").filter(lambda c: c != number[pos]))
    mutated = number[:pos] + other + number[pos + 1 :]
    assert not check_resident_id(mutated, today=TODAY).valid


def test_every_single_substitution_of_the_published_ids_is_caught() -> None:
    for number, _ in VALID_IDS:
        for pos in range(18):
            for c in "0123456789X":
                if c != number[pos]:
                    mutated = number[:pos] + c + number[pos + 1 :]
                    assert not check_resident_id(mutated, today=TODAY).valid, (number, pos, c)
