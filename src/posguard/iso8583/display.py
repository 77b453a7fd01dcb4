"""A message made safe to log, trace or show: the one way to print an ISO 8583 message.

The PAN is masked (``card.mask_pan``), track data, PIN blocks, ICC data and working keys
are replaced by a note of their size, and every other text goes through ``card.redact`` in
case a PAN hides where it should not (field 48, 63...); the message's own field-2 PAN is
masked wherever it appears, Luhn-valid or not. The MAC is not secret and stays.

>>> view = safe_view({"t": "0200", "2": "6222021234567890123",
...                   "35": "6222021234567890123D2812", "52": bytes(8), "64": bytes(8)})
>>> for key, value in view.items():
...     print(key, value)
t 0200
2 622202*********0123
35 <track, 24 chars>
52 <PIN block>
64 0000000000000000
>>> from posguard.iso8583.spec import load_spec
>>> print(describe(load_spec("iso87ascii"), {"t": "0810", "39": "00"}))
t   Message Type                    0810
39  Response Code                   00
"""

from __future__ import annotations

from collections.abc import Mapping

from posguard.card import mask_pan, redact
from posguard.iso8583.spec import MessageSpec

_TRACKS = frozenset({"35", "36", "45"})
_HIDDEN = {"52": "PIN block", "55": "ICC data", "62": "working keys"}


def _key_order(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (-1, {"h": "0", "t": "1"}.get(key, key))


def safe_view(msg: Mapping[str, str | bytes]) -> dict[str, str]:
    """Every field as a display string with nothing sensitive in clear, in field order."""
    out: dict[str, str] = {}
    pan = msg.get("2")
    own_pan = pan if isinstance(pan, str) and len(pan) >= 12 else None
    for key in sorted(msg, key=_key_order):
        value = msg[key]
        if key == "2":
            out[key] = mask_pan(value) if isinstance(value, str) else "<PAN>"
        elif key in _TRACKS:
            out[key] = f"<track, {len(value)} chars>"
        elif key in _HIDDEN:
            out[key] = (
                f"<{_HIDDEN[key]}>" if key == "52" else f"<{_HIDDEN[key]}, {len(value)} bytes>"
            )
        elif isinstance(value, bytes | bytearray):
            out[key] = bytes(value).hex().upper()
        else:
            text = str(value)
            if own_pan is not None and own_pan in text:  # even when it fails Luhn
                text = text.replace(own_pan, mask_pan(own_pan))
            out[key] = redact(text)
    return out


def describe(spec: MessageSpec, msg: Mapping[str, str | bytes]) -> str:
    """One line per field: key, the spec's description, the safe value."""
    return "\n".join(
        f"{key:<3} {spec.desc(key)[:30]:<31} {value}" for key, value in safe_view(msg).items()
    )
