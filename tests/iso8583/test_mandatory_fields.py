"""Mandatory fields per MTI / processing code / 60.1, and the field 3/48/60/61 helpers."""

from __future__ import annotations

import pytest

from posguard.common.errors import MessageDecodeError, MessageEncodeError
from posguard.iso8583.codec import check_mandatory, missing_fields
from posguard.iso8583.fields import (
    Field60,
    Field61,
    MessageTypeCode,
    NetworkCode,
    ProcessingCode,
    SettlementFlag,
    SettlementTotals,
    field60,
    field61,
    parse_field60,
    parse_field61,
    parse_settlement_totals,
    response_header,
    settlement_totals,
    unionpay_header,
)

BASE = {"11": "000001", "41": "T0000001", "42": "898310048140001"}
SALE = {
    **BASE,
    "t": "0200",
    "2": "6222021234567890123",
    "3": ProcessingCode.SALE,
    "4": "000000010000",
    "22": "021",
    "25": "00",
    "49": "156",
    "60": field60(MessageTypeCode.SALE, 1),
}


def test_sale_needs_exactly_the_profile_fields() -> None:
    check_mandatory(SALE)
    for f in ("2", "3", "4", "11", "22", "25", "41", "42", "49", "60"):
        msg = {k: v for k, v in SALE.items() if k != f}
        with pytest.raises(MessageEncodeError) as info:
            check_mandatory(msg)
        assert info.value.context["field"] == f


def test_received_messages_raise_decode_errors() -> None:
    msg = {k: v for k, v in SALE.items() if k != "4"}
    with pytest.raises(MessageDecodeError, match="mandatory field 4 missing"):
        check_mandatory(msg, received=True)


def test_empty_value_counts_as_missing() -> None:
    assert missing_fields({**SALE, "41": ""}) == ["41"]


def test_void_and_completion_need_the_original() -> None:
    void = {**SALE, "3": ProcessingCode.VOID, "60": field60(MessageTypeCode.VOID, 1)}
    assert missing_fields(void) == ["37", "61"]
    completion = {**SALE, "60": field60(MessageTypeCode.COMPLETION, 1)}
    assert missing_fields(completion) == ["37", "61"]
    refund = {**void, "t": "0220", "60": field60(MessageTypeCode.REFUND, 1)}
    assert missing_fields(refund) == ["37", "61"]


def test_balance_inquiry_has_no_amount() -> None:
    bal = {k: v for k, v in SALE.items() if k != "4"}
    bal.update({"3": ProcessingCode.BALANCE, "60": field60(MessageTypeCode.BALANCE, 1)})
    check_mandatory(bal)


def test_answers() -> None:
    answer = {**BASE, "t": "0210", "3": "000000"}
    assert missing_fields(answer) == ["39"]
    assert missing_fields({**answer, "39": "51"}) == []
    assert missing_fields({**answer, "39": "00"}) == ["37"]  # approved: RRN
    signon = {**BASE, "t": "0810", "60": field60("00", 1, NetworkCode.SIGN_ON)}
    assert missing_fields({**signon, "39": "00"}) == ["62"]  # keys only when approved
    assert missing_fields({**signon, "39": "97"}) == []


def test_reversal_needs_a_reason_from_the_profile() -> None:
    rev = {**SALE, "t": "0400", "39": "98"}
    check_mandatory(rev)
    with pytest.raises(MessageEncodeError, match="reversal reason") as info:
        check_mandatory({**rev, "39": "25"})
    assert info.value.context["field"] == "39"
    assert missing_fields({k: v for k, v in rev.items() if k != "39"}) == ["39"]


def test_unknown_mti_and_processing_code() -> None:
    with pytest.raises(MessageEncodeError, match="not in the profile") as info:
        check_mandatory({**SALE, "t": "0600"})
    assert info.value.context["field"] == "t"
    with pytest.raises(MessageEncodeError, match="processing code") as info:
        check_mandatory({**SALE, "3": "999999"})
    assert info.value.context["field"] == "3"
    with pytest.raises(MessageEncodeError) as info:
        check_mandatory({"3": "000000"})
    assert info.value.context["field"] == "t"


def test_settlement_and_batch_upload() -> None:
    settle = {
        **BASE,
        "t": "0500",
        "48": settlement_totals(SettlementTotals(2, 1500, 1, 500)),
        "49": "156",
        "60": field60("00", 1, NetworkCode.SETTLEMENT),
    }
    check_mandatory(settle)
    assert missing_fields({k: v for k, v in settle.items() if k != "48"}) == ["48"]
    end = {**BASE, "t": "0320", "60": field60("00", 1, NetworkCode.BATCH_UPLOAD_END)}
    check_mandatory(end)


def test_field60_and_61_round_trip() -> None:
    assert parse_field60(field60("22", "000123", "000")) == Field60("22", "000123", "000")
    assert parse_field60("2200012300050") == Field60("22", "000123", "000")  # CUPS 60.4/60.5
    assert parse_field61(field61(7, 42, "0229")) == Field61("000007", "000042", "0229")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: field60("2", 1), "60"),
        (lambda: field60("22", 1_000_000), "60"),
        (lambda: field60("22", -1), "60"),
        (lambda: field61(1, 1, "1332"), "61"),
        (lambda: field61(1, "12345X", "0101"), "61"),
        (lambda: settlement_totals(SettlementTotals(1000, 0, 0, 0)), "48"),
        (lambda: settlement_totals(SettlementTotals(0, 0, 0, 0), flag="9"), "48"),
        (lambda: unionpay_header(tpdu_dest="12"), "h"),
    ],
)
def test_builders_name_the_field(call: object, field: str) -> None:
    with pytest.raises(MessageEncodeError) as info:
        call()  # type: ignore[operator]
    assert info.value.context["field"] == field


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: parse_field60("2200001"), "60"),
        (lambda: parse_field60("22AB0001000"), "60"),
        (lambda: parse_field61("00000100000"), "61"),
        (lambda: parse_settlement_totals("1" * 29), "48"),
        (lambda: parse_settlement_totals("0" * 30 + "7"), "48"),
        (lambda: response_header("60zz"), "h"),
    ],
)
def test_parsers_name_the_field(call: object, field: str) -> None:
    with pytest.raises(MessageDecodeError) as info:
        call()  # type: ignore[operator]
    assert info.value.context["field"] == field


def test_settlement_totals_round_trip() -> None:
    totals = SettlementTotals(999, 999_999_999_999, 0, 0)
    text = settlement_totals(totals, SettlementFlag.OUT_OF_BALANCE)
    assert len(text) == 31
    assert parse_settlement_totals(text) == (totals, "2")
    assert parse_settlement_totals(text[:30]) == (totals, "0")


def test_unionpay_header_layout() -> None:
    h = unionpay_header(tpdu_dest="0001", tpdu_src="0002", version="22", request="3")
    assert h == "6000010002602203000000"
    assert response_header(h) == "6000020001602203000000"
