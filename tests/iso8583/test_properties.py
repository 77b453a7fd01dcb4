"""Property tests: encode -> decode round-trips for both specs over generated valid
messages, and the decoder fed random or mutated bytes only ever raises
MessageDecodeError (never another exception, never a hang)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posguard.common.errors import MessageDecodeError
from posguard.iso8583.codec import Message, decode, encode
from posguard.iso8583.spec import MessageSpec, load_spec

SPECS = {name: load_spec(name) for name in ("iso87ascii", "unionpay")}
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
DIGITS = "0123456789"
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _value(spec: MessageSpec, key: str) -> st.SearchStrategy[str | bytes]:
    f: dict[str, Any] = dict(spec.pyiso8583[key])
    max_len, var = f["max_len"], f["len_type"] > 0
    if key in spec.bytes_fields:
        lo = 0 if var else max_len
        return st.binary(min_size=lo, max_size=min(max_len, 64))
    if key in spec.numeric_fields:
        size = max_len if f.get("len_count") == "nibbles" or f["data_enc"] != "b" else max_len * 2
        lo = 1 if var else size
        return st.text(alphabet=DIGITS, min_size=lo, max_size=min(size, 40) if var else size)
    if f["data_enc"] == "b":  # nibble data that is not only digits: track 2/3 ("D")
        lo = 1 if var else max_len
        return st.text(alphabet=DIGITS + "D", min_size=lo, max_size=min(max_len, 40))
    lo = 0 if var else max_len
    return st.text(alphabet=PRINTABLE, min_size=lo, max_size=min(max_len, 40) if var else max_len)


def _data_keys(spec: MessageSpec) -> list[str]:
    return [k for k in spec.pyiso8583 if k.isdigit() and k not in ("1", "65")]


@st.composite
def messages(draw: st.DrawFn, spec: MessageSpec) -> Message:
    keys = draw(st.lists(st.sampled_from(_data_keys(spec)), unique=True, max_size=14))
    msg: Message = {"t": draw(st.text(alphabet=DIGITS, min_size=4, max_size=4))}
    if spec.header_len:
        msg["h"] = draw(st.binary(min_size=spec.header_len, max_size=spec.header_len)).hex().upper()
    for key in keys:
        msg[key] = draw(_value(spec, key))
    return msg


@st.composite
def mutated(draw: st.DrawFn, spec: MessageSpec) -> bytes:
    data = bytearray(encode(spec, draw(messages(spec))))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and data:
            del data[at : at + draw(st.integers(1, 4))]
        else:
            del data[at:]
    return bytes(data)


def _decode_only_our_error(spec: MessageSpec, data: bytes) -> None:
    try:
        msg = decode(spec, data)
    except MessageDecodeError as exc:
        context = exc.context
        assert "field" in context
        return
    # what decodes is a well-typed message that encodes again
    assert isinstance(msg["t"], str)
    assert all(isinstance(v, bytes) == (k in spec.bytes_fields) for k, v in msg.items())
    encode(spec, msg)


@SETTINGS
@given(msg=messages(SPECS["iso87ascii"]))
def test_round_trip_iso87ascii(msg: Message) -> None:
    spec = SPECS["iso87ascii"]
    assert decode(spec, encode(spec, msg)) == msg


@SETTINGS
@given(msg=messages(SPECS["unionpay"]))
def test_round_trip_unionpay(msg: Message) -> None:
    spec = SPECS["unionpay"]
    data = encode(spec, msg)
    assert data[: spec.header_len].hex().upper() == msg["h"]
    assert decode(spec, data) == msg


@SETTINGS
@given(name=st.sampled_from(sorted(SPECS)), data=st.binary(max_size=300))
def test_decoder_on_random_bytes(name: str, data: bytes) -> None:
    _decode_only_our_error(SPECS[name], data)


@SETTINGS
@given(data=mutated(SPECS["iso87ascii"]))
def test_decoder_on_mutated_iso87ascii(data: bytes) -> None:
    _decode_only_our_error(SPECS["iso87ascii"], data)


@SETTINGS
@given(data=mutated(SPECS["unionpay"]))
def test_decoder_on_mutated_unionpay(data: bytes) -> None:
    _decode_only_our_error(SPECS["unionpay"], data)


@SETTINGS
@given(
    name=st.sampled_from(sorted(SPECS)),
    prefix=st.sampled_from([b"0200", b"\x02\x00", b"6000000000603100000000"]),
    bitmap=st.binary(min_size=8, max_size=16),
    tail=st.binary(max_size=200),
)
def test_decoder_on_plausible_headers_and_random_bitmaps(
    name: str, prefix: bytes, bitmap: bytes, tail: bytes
) -> None:
    spec = SPECS[name]
    head = bytes.fromhex("600000000060310000000002") if spec.header_len else b"0200"
    _decode_only_our_error(spec, head + bitmap + tail)
    _decode_only_our_error(spec, prefix + bitmap.hex().upper().encode() + tail)
