"""Codec: golden bytes for a 0200 sale in both specs, value typing, and every error path
ending in our MessageDecodeError / MessageEncodeError with field and position."""

from __future__ import annotations

import pickle

import pytest

from posguard.common.errors import MessageDecodeError, MessageEncodeError
from posguard.iso8583.codec import decode, encode
from posguard.iso8583.fields import unionpay_header
from posguard.iso8583.spec import load_spec

ASCII = load_spec("iso87ascii")
UNIONPAY = load_spec("unionpay")

SALE = {
    "t": "0200",
    "2": "6222021234567890123",
    "3": "000000",
    "4": "000000010000",
    "11": "000123",
    "22": "021",
    "25": "00",
    "41": "T0000001",
    "42": "898310048140001",
    "49": "156",
    "52": bytes.fromhex("0001020304050607"),
    "60": "22000001000",
    "64": bytes.fromhex("1111111111111111"),
}

# ISO 8583:1987 ASCII: MTI, 16-hex-char bitmap, ASCII fields, LLVAR/LLLVAR ASCII lengths;
# binary 52 and 64 as raw bytes.
GOLDEN_ASCII = (
    b"0200"
    b"7020048000C09011"
    b"196222021234567890123"  # 2: LLVAR
    b"000000"  # 3
    b"000000010000"  # 4
    b"000123"  # 11
    b"021"  # 22
    b"00"  # 25
    b"T0000001"  # 41
    b"898310048140001"  # 42
    b"156"  # 49
    + bytes.fromhex("0001020304050607")  # 52
    + b"01122000001000"  # 60: LLLVAR
    + bytes.fromhex("1111111111111111")  # 64
)

# UnionPay: TPDU 60 0001 0000 + header 60 31 00 000000, BCD MTI, binary bitmap, BCD
# numerics (2 left-aligned right-padded, 22 left-aligned), ASCII 41/42/49, BCD length 60.
GOLDEN_UNIONPAY = bytes.fromhex(
    "6000010000"
    "603100000000"
    "0200"
    "7020048000C09011"
    "19"
    "62220212345678901230"
    "000000"
    "000000010000"
    "000123"
    "0210"
    "00" + b"T0000001".hex() + b"898310048140001".hex() + b"156".hex() + "0001020304050607" + "0011"
    "220000010000" + "1111111111111111"
)


def test_golden_sale_iso87ascii() -> None:
    data = encode(ASCII, SALE)
    assert data == GOLDEN_ASCII
    assert decode(ASCII, data) == SALE


def test_golden_sale_unionpay() -> None:
    msg = {"h": unionpay_header(tpdu_dest="0001"), **SALE}
    data = encode(UNIONPAY, msg)
    assert data == GOLDEN_UNIONPAY
    assert decode(UNIONPAY, data) == msg


def test_encode_does_not_touch_the_message() -> None:
    msg = dict(SALE)
    encode(ASCII, msg)
    assert msg == SALE  # pyiso8583 adds "p" to what it is given: not to ours


def test_bitmaps_are_accepted_and_recomputed() -> None:
    data = encode(ASCII, {**SALE, "p": "FFFFFFFFFFFFFFFF"})
    assert data == GOLDEN_ASCII


def test_secondary_bitmap_round_trip() -> None:
    msg = {"t": "0800", "11": "000001", "70": "301"}
    data = encode(ASCII, msg)
    assert data[4:36] == b"80200000000000000400000000000000"  # bits 1, 11 | 70
    assert decode(ASCII, data) == msg


@pytest.mark.parametrize(
    ("change", "field", "what"),
    [
        ({"52": "0001020304050607"}, "52", "must be bytes"),
        ({"4": 10000}, "4", "must be str"),
        ({"4": "00000001000A"}, "4", "decimal digits"),
        ({"4": "１２３４５６７８９０１２"}, "4", "decimal digits"),  # fullwidth digits
        ({"t": "02X0"}, "t", "decimal digits"),
        ({"4": "1000"}, "4", "expecting 12"),
        ({"2": "1" * 20}, "2", "larger than maximum 19"),
        ({"41": "终端0001"}, "41", "invalid data"),
        ({"52": b"\x00" * 7}, "52", "expecting 8"),
        ({"h": "600000"}, "h", "not a field of this spec"),
        ({"200": "1"}, "200", "not a field of this spec"),
        ({"x": "1"}, "x", "not a field of this spec"),
    ],
)
def test_encode_errors_name_the_field(change: dict[str, object], field: str, what: str) -> None:
    with pytest.raises(MessageEncodeError, match=what) as info:
        encode(ASCII, {**SALE, **change})  # type: ignore[dict-item]
    assert info.value.context["field"] == field
    assert "6222021234567890123" not in str(info.value)


def test_encode_error_position_is_where_the_field_would_start() -> None:
    with pytest.raises(MessageEncodeError) as info:
        encode(ASCII, {**SALE, "41": "T01"})
    # MTI 4 + bitmap 16 + 2: 21 + 3: 6 + 4: 12 + 11: 6 + 22: 3 + 25: 2
    assert info.value.context == {"field": "41", "pos": 70}


def test_encode_rejects_non_dict_and_missing_mti() -> None:
    with pytest.raises(MessageEncodeError, match="must be a dict"):
        encode(ASCII, [("t", "0200")])  # type: ignore[arg-type]
    with pytest.raises(MessageEncodeError) as info:
        encode(ASCII, {"3": "000000"})
    assert info.value.context["field"] == "t"
    with pytest.raises(MessageEncodeError) as info:
        encode(UNIONPAY, dict(SALE))  # no TPDU/header
    assert info.value.context["field"] == "h"


def test_unionpay_refuses_fields_above_64() -> None:
    with pytest.raises(MessageEncodeError) as info:
        encode(UNIONPAY, {"h": unionpay_header(), **SALE, "70": "301"})
    assert info.value.context["field"] == "70"


@pytest.mark.parametrize(
    ("data", "field", "pos"),
    [
        (GOLDEN_ASCII[:2], "t", 0),
        (GOLDEN_ASCII[:10], "p", 4),
        (b"0200" + b"70200480ZZC09011" + GOLDEN_ASCII[20:], "p", 4),
        (GOLDEN_ASCII[:21], "2", 20),
        (GOLDEN_ASCII[:20] + b"9X" + GOLDEN_ASCII[22:], "2", 20),
        (GOLDEN_ASCII[:20] + b"25" + GOLDEN_ASCII[22:], "2", 20),  # longer than 19
        (GOLDEN_ASCII[:-1], "64", len(GOLDEN_ASCII) - 8),
        (GOLDEN_ASCII + b"!", "64", len(GOLDEN_ASCII)),  # extra data
        (b"02X0" + GOLDEN_ASCII[4:], "t", 0),
        (GOLDEN_ASCII[:47] + b"00000A010000" + GOLDEN_ASCII[59:], "4", 47),
    ],
)
def test_decode_errors_carry_field_and_position(data: bytes, field: str, pos: int) -> None:
    with pytest.raises(MessageDecodeError) as info:
        decode(ASCII, data)
    assert info.value.context == {"field": field, "pos": pos}
    assert f"field {field} at byte {pos}" in str(info.value)


def test_decode_unionpay_bad_bcd_and_unknown_field() -> None:
    # a non-decimal nibble in field 3 (BCD)
    bad = bytearray(GOLDEN_UNIONPAY)
    at = 11 + 2 + 8 + 11  # header, MTI, bitmap, field 2 (1 + 10)
    bad[at] = 0xA0
    with pytest.raises(MessageDecodeError) as info:
        decode(UNIONPAY, bytes(bad))
    assert info.value.context == {"field": "3", "pos": at}
    # secondary bitmap announcing a field the spec does not define
    msg = bytearray(GOLDEN_UNIONPAY)
    msg[13] |= 0x80  # bit 1: a secondary bitmap follows the primary one
    with_70 = bytes(msg[:21]) + bytes.fromhex("0400000000000000") + bytes(msg[21:]) + b"301"
    with pytest.raises(MessageDecodeError) as info:
        decode(UNIONPAY, with_70)
    assert info.value.context["field"] == "70"


def test_decode_rejects_wrong_types_and_accepts_buffers() -> None:
    with pytest.raises(MessageDecodeError, match="must be bytes"):
        decode(ASCII, GOLDEN_ASCII.decode("latin-1"))  # type: ignore[arg-type]
    assert decode(ASCII, bytearray(GOLDEN_ASCII)) == SALE
    assert decode(ASCII, memoryview(GOLDEN_ASCII)) == SALE  # type: ignore[arg-type]


def test_errors_pickle_with_their_context() -> None:
    with pytest.raises(MessageDecodeError) as info:
        decode(ASCII, GOLDEN_ASCII[:30])
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is MessageDecodeError
    assert again.context == info.value.context
    assert str(again) == str(info.value)
