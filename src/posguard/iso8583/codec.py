"""Whole-message encode/decode over pyiso8583, with our errors and our value types.

A :data:`Message` is pyiso8583's dict form (``"t"`` MTI, ``"h"`` header, ``"2"`` ..
``"128"``), with binary fields (PIN block, MAC, keys, ICC data) as ``bytes`` and every
other field as ``str``. Bitmaps are computed on encode and dropped on decode.

>>> from posguard.iso8583.spec import load_spec
>>> spec = load_spec("iso87ascii")
>>> data = encode(spec, {"t": "0800", "11": "000001", "41": "T0000001"})
>>> data
b'08000020000000800000000001T0000001'
>>> decode(spec, data)
{'t': '0800', '11': '000001', '41': 'T0000001'}
>>> decode(spec, data[:-3])
Traceback (most recent call last):
...
posguard.common.errors.MessageDecodeError: iso87ascii: field 41 at byte 26: ... (field=41, pos=26)

Every pyiso8583 error (and anything else it can raise on hostile input) leaves this
module as :class:`~posguard.common.errors.MessageDecodeError` or
:class:`~posguard.common.errors.MessageEncodeError` with ``field`` and ``pos`` context.
Error texts never carry field values (they may hold a PAN).
"""

from __future__ import annotations

from typing import Any

import iso8583

from posguard.common.errors import MessageDecodeError, MessageEncodeError
from posguard.iso8583.mandatory import check_mandatory, missing_fields
from posguard.iso8583.spec import KIND_BITMAP, MessageSpec

Message = dict[str, str | bytes]

_BITMAP = KIND_BITMAP


def _encoded_pos(doc_enc: dict[str, dict[str, bytes]], upto: str) -> int:
    pos = 0
    for key, part in doc_enc.items():
        if key == upto:
            break
        pos += len(part.get("len", b"")) + len(part.get("data", b""))
    return pos


def _enc_error(
    spec: MessageSpec, field: str, what: str, pos: int | None = None
) -> MessageEncodeError:
    return MessageEncodeError(f"{spec.name}: field {field}: {what}", field=field, pos=pos)


def encode(spec: MessageSpec, msg: Message) -> bytes:
    """Pack ``msg`` into bytes (header, MTI, bitmap(s), fields); ``msg`` is not modified."""
    if not isinstance(msg, dict):
        raise MessageEncodeError(
            f"{spec.name}: a message must be a dict, not {type(msg).__name__}", field="(message)"
        )
    digit_keys, text_keys, binary_keys = spec.digit_keys, spec.text_keys, spec.binary_keys
    doc: dict[str, Any] = dict(msg)  # pyiso8583 writes into what it is given
    for key, value in msg.items():
        if key in digit_keys:
            if type(value) is not str:
                raise _enc_error(spec, key, f"must be str, not {type(value).__name__}")
            if not (value.isdigit() and value.isascii()):
                raise _enc_error(spec, key, "must hold decimal digits only")
        elif key in text_keys:
            if type(value) is not str:
                raise _enc_error(spec, key, f"must be str, not {type(value).__name__}")
        elif key in binary_keys:
            if type(value) is not bytes:
                raise _enc_error(spec, key, f"must be bytes, not {type(value).__name__}")
            doc[key] = value.hex()
        elif spec.value_kinds.get(key) != _BITMAP:  # bitmaps are computed, whatever given
            raise _enc_error(spec, str(key), "not a field of this spec")
    try:
        raw, _ = iso8583.encode(doc, spec.pyiso8583)
    except iso8583.EncodeError as exc:
        pos = _encoded_pos(exc.doc_enc, exc.field)
        raise _enc_error(spec, exc.field, exc.msg, pos) from exc
    except Exception as exc:  # hostile input must not escape as a bare third-party error
        raise _enc_error(spec, "(message)", f"{type(exc).__name__}: {exc}") from exc
    return bytes(raw)


def _dec_error(spec: MessageSpec, field: str, pos: int | None, what: str) -> MessageDecodeError:
    where = f"field {field} at byte {pos}" if pos is not None else f"field {field}"
    return MessageDecodeError(f"{spec.name}: {where}: {what}", field=field, pos=pos)


def decode(spec: MessageSpec, data: bytes) -> Message:
    """Unpack ``data`` (exactly one message, no frame header) into a :data:`Message`."""
    if type(data) is not bytes:
        if not isinstance(data, bytearray | memoryview):
            raise MessageDecodeError(
                f"{spec.name}: data must be bytes, not {type(data).__name__}",
                field="(message)",
                pos=0,
            )
        data = bytes(data)
    try:
        dec, enc = iso8583.decode(data, spec.pyiso8583)
    except iso8583.DecodeError as exc:
        raise _dec_error(spec, exc.field, exc.pos, exc.msg) from exc
    except KeyError as exc:  # bitmap names a field this spec does not define
        raise _dec_error(spec, str(exc.args[0]), None, "bitmap names a field not in spec") from exc
    except Exception as exc:
        raise _dec_error(spec, "(message)", None, f"{type(exc).__name__}: {exc}") from exc
    del dec["p"]
    dec.pop("1", None)
    digit_keys, binary_keys = spec.digit_keys, spec.binary_keys
    out: Message = dec  # type: ignore[assignment]  # values converted in place below
    for key, value in dec.items():
        if key in digit_keys:
            if not (value.isdigit() and value.isascii()):
                raise _dec_error(spec, key, _encoded_pos(enc, key), "must hold decimal digits only")
        elif key in binary_keys:
            out[key] = bytes.fromhex(value)
    return out


__all__ = ["Message", "check_mandatory", "decode", "encode", "missing_fields"]
