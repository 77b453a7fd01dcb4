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
posguard.iso8583.codec.PartialDecodeError: iso87ascii: field 41 at byte 26: ... (field=41, pos=26)

Every pyiso8583 error (and anything else it can raise on hostile input) leaves this
module as :class:`~posguard.common.errors.MessageDecodeError` or
:class:`~posguard.common.errors.MessageEncodeError` with ``field`` and ``pos`` context.
Error texts never carry field values (they may hold a PAN).

A decode error is a :class:`PartialDecodeError`: its ``decoded`` holds the fields that were
read and passed their checks before (or besides) the fault, so that an answer can echo them
(card data, fields 2, 35, 36, 45, 52 and 55, is never kept there):

>>> bad = data.replace(b"000001", b"00000X", 1)  # field 11, not 41
>>> try:
...     decode(spec, bad)
... except PartialDecodeError as exc:
...     print(exc.context["field"], exc.decoded)
11 {'t': '0800', '41': 'T0000001'}
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


class PartialDecodeError(MessageDecodeError):
    """A message that did not decode; ``decoded`` is what could be read of it (no card data).
    It pickles as the plain :class:`MessageDecodeError` (message and context, not ``decoded``:
    what was read stays in the process that read it)."""

    decoded: Message

    def __init__(self, message: str, *, decoded: Message | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.decoded = decoded or {}

    def __reduce__(self) -> tuple[Any, ...]:
        return MessageDecodeError(self.message, code=self.code, **self.context).__reduce__()


# Card data never kept on an error: PAN, tracks 2 and 3, track 1, PIN block, ICC data.
_CARD_DATA = frozenset({"2", "35", "36", "45", "52", "55"})


def _readable(spec: MessageSpec, fields: dict[str, Any]) -> Message:
    """The fields of a partly decoded message that pass the codec's checks, card data left out.
    pyiso8583's form in (binary fields as hex), ours out."""
    out: Message = {}
    for key, value in fields.items():
        if key in _CARD_DATA or key in ("p", "1"):
            continue
        if isinstance(value, bytes) and key in spec.binary_keys:  # converted before the fault
            out[key] = value
            continue
        if not isinstance(value, str):
            continue
        if key in spec.digit_keys:
            if value.isdigit() and value.isascii():
                out[key] = value
        elif key in spec.binary_keys:
            try:
                out[key] = bytes.fromhex(value)
            except ValueError:
                continue
        else:
            out[key] = value
    return out


def _dec_error(
    spec: MessageSpec,
    field: str,
    pos: int | None,
    what: str,
    decoded: dict[str, Any] | None = None,
) -> PartialDecodeError:
    where = f"field {field} at byte {pos}" if pos is not None else f"field {field}"
    readable = _readable(spec, decoded) if decoded else None
    return PartialDecodeError(
        f"{spec.name}: {where}: {what}", decoded=readable, field=field, pos=pos
    )


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
        raise _dec_error(spec, exc.field, exc.pos, exc.msg, exc.doc_dec) from exc
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
                where = _encoded_pos(enc, key)
                raise _dec_error(spec, key, where, "must hold decimal digits only", dec)
        elif key in binary_keys:
            out[key] = bytes.fromhex(value)
    return out


__all__ = [
    "Message",
    "PartialDecodeError",
    "check_mandatory",
    "decode",
    "encode",
    "missing_fields",
]
