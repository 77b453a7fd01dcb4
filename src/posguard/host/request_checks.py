"""Checks of a request's form that the codec cannot make: local time and date (fields 12, 13,
and the date in 61), the UnionPay TPDU/header, and whether an MTI is a response.

Each returns a one-line fault that says what and where, or None.

>>> bad_datetime({"12": "256100", "13": "1201"})
'field 12: 256100 is not a time hhmmss'
>>> bad_datetime({"12": "235959", "13": "1301"})
'field 13: 1301 is not a date MMDD'
>>> bad_datetime({"12": "000000", "13": "0229"}) is None
True
>>> bad_header("6000010000603100000000") is None
True
>>> bad_header("6100010000603100000000")
'field h: TPDU ID 61 is not 60'
>>> is_response_class("0210"), is_response_class("0200"), is_response_class("0230")
(True, False, True)
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["bad_datetime", "bad_header", "is_response_class"]

# Every valid MMDD (February may have 29: field 13 carries no year), and the valid hours and
# minutes/seconds: set lookups instead of int() conversions (these run on every request).
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MMDD = frozenset(f"{m:02d}{d:02d}" for m in range(1, 13) for d in range(1, _DAYS[m - 1] + 1))
_HOURS = frozenset(f"{h:02d}" for h in range(24))
_SIXTY = frozenset(f"{n:02d}" for n in range(60))


def is_response_class(mti: str) -> bool:
    """ISO 8583 MTI position 3 (message function) 1 or 3: a request or advice *response*."""
    return len(mti) == 4 and mti[2] in "13"


def _hhmmss_ok(value: str) -> bool:
    return len(value) == 6 and value[:2] in _HOURS and value[2:4] in _SIXTY and value[4:] in _SIXTY


def bad_datetime(msg: Mapping[str, object]) -> str | None:
    """Field 12 (hhmmss), 13 (MMDD) and the date of 61 (its last 4 digits), when present."""
    f12, f13, f61 = msg.get("12"), msg.get("13"), msg.get("61")
    if isinstance(f12, str) and not _hhmmss_ok(f12):
        return f"field 12: {f12} is not a time hhmmss"
    if isinstance(f13, str) and f13 not in _MMDD:
        return f"field 13: {f13} is not a date MMDD"
    if isinstance(f61, str) and len(f61) == 16 and f61[12:] not in _MMDD:
        return f"field 61: original date {f61[12:]} is not a date MMDD"
    return None


def bad_header(h: object) -> str | None:
    """The profile's rule for the 11-byte UnionPay header a terminal sends: TPDU ID ``60`` (any
    destination and source address), application type ``60`` (POS), a two-digit version,
    terminal status ``0`` (normal) or ``1`` (test), processing request ``0`` (only the host
    asks for processing), a six-digit sub-version."""
    if not isinstance(h, str) or len(h) != 22:
        return "field h: the TPDU and header must be 11 bytes"
    if h[:2] != "60":
        return f"field h: TPDU ID {h[:2]} is not 60"
    if not h[10:].isdigit():
        return "field h: the header after the TPDU must be BCD digits"
    if h[10:12] != "60":
        return f"field h: application type {h[10:12]} is not 60 (POS)"
    if h[14] not in "01":
        return f"field h: terminal status {h[14]} is not 0 or 1"
    if h[15] != "0":
        return f"field h: processing request {h[15]} from a terminal (only the host sets it)"
    return None
