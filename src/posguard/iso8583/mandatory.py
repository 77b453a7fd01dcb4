"""Mandatory fields per MTI, processing code (field 3) and type code (60.1), per
docs/iso8583-profile.md; the financial requests' keys come from the operation table
(:mod:`posguard.iso8583.operations`). Re-exported by :mod:`posguard.iso8583.codec`.

>>> sale = {"t": "0200", "2": "6222021234567890123", "3": "000000", "4": "000000010000",
...         "11": "000001", "22": "021", "25": "00", "41": "T0000001",
...         "42": "898310048140001", "49": "156", "60": "22000001000"}
>>> missing_fields(sale)
[]
>>> check_mandatory({**sale, "t": "0210"})
Traceback (most recent call last):
...
posguard.common.errors.MessageEncodeError: 0210: mandatory field 39 missing ... (field=39)
"""

from __future__ import annotations

from collections.abc import Mapping

from posguard.common.errors import MessageDecodeError, MessageEncodeError
from posguard.iso8583.operations import OPERATIONS, Operation, TxnKind

_FIN = ("2", "3", "4", "11", "22", "25", "41", "42", "49", "60")
_ANSWER = ("11", "39", "41", "42")

_INQUIRY = tuple(f for f in _FIN if f != "4")  # a balance inquiry moves no amount


def _operation_fields(op: Operation) -> tuple[str, ...]:
    base = _INQUIRY if op.kind is TxnKind.BALANCE else _FIN
    return (*base, "37", "61") if op.original else base


def _financial_rules() -> dict[tuple[str, str, str], tuple[str, ...]]:
    """Per operation of the table (MTI, field 3, 60.1); and per (MTI, field 3) with any other
    or no 60.1, what every operation sharing that MTI and field 3 needs."""
    rules: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for op in OPERATIONS.values():
        fields = _operation_fields(op)
        rules[(op.mti, op.processing_code, op.type_code)] = fields
        key = (op.mti, op.processing_code, "*")
        shared = rules.get(key, fields)
        rules[key] = tuple(f for f in shared if f in fields)
    return rules


# (MTI, field 3 or "*", 60.1 or "*") -> fields a request must carry.
_REQUESTS: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("0800", "*", "*"): ("11", "41", "42", "60"),
    ("0820", "*", "*"): ("11", "41", "42", "60"),
    **_financial_rules(),  # sale, void, refund, balance, pre-auth, completion and voids
    ("0400", "*", "*"): ("3", "4", "11", "22", "25", "39", "41", "42", "49", "60"),
    ("0401", "*", "*"): ("3", "4", "11", "22", "25", "39", "41", "42", "49", "60"),
    ("0500", "*", "*"): ("11", "41", "42", "48", "49", "60"),
    ("0320", "*", "*"): ("11", "41", "42", "60"),
}
# Answers: MTI -> fields; plus extra fields when approved (39 == "00").
_ANSWERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "0810": ((*_ANSWER, "60"), ("62",)),
    "0830": ((*_ANSWER, "60"), ()),
    "0210": ((*_ANSWER, "3"), ("37",)),
    "0230": ((*_ANSWER, "3"), ("37",)),
    "0110": ((*_ANSWER, "3"), ("37", "38")),
    "0410": (_ANSWER, ()),
    "0510": ((*_ANSWER, "48", "60"), ()),
    "0330": ((*_ANSWER, "60"), ()),
}
REVERSAL_REASONS = frozenset({"98", "96", "A0", "06"})


def _fail(mti: str, field: str, what: str, received: bool) -> Exception:
    cls = MessageDecodeError if received else MessageEncodeError
    return cls(f"{mti}: {what}", field=field)


def _request_rule(msg: Mapping[str, str | bytes], mti: str) -> tuple[str, ...] | None:
    proc = msg.get("3")
    f60 = msg.get("60")
    type_code = f60[:2] if isinstance(f60, str) else ""
    # Most specific first; one lookup for a request of the table (every sale), no key tuples
    # built ahead (this runs on every request the host receives).
    rule = _REQUESTS.get((mti, proc, type_code))  # type: ignore[arg-type]
    if rule is None:
        rule = _REQUESTS.get((mti, proc, "*"))  # type: ignore[arg-type]
        if rule is None:
            rule = _REQUESTS.get((mti, "*", "*"))
    return rule


def missing_fields(msg: Mapping[str, str | bytes], *, received: bool = False) -> list[str]:
    """The mandatory fields ``msg`` lacks (empty values count as missing).

    Raises when the MTI or the processing code is not one of the profile's at all.
    """
    mti = msg.get("t")
    if not isinstance(mti, str) or not mti:
        raise _fail("(no MTI)", "t", "message type (t) missing", received)
    answer = _ANSWERS.get(mti)
    if answer is not None:
        base, approved = answer
        need = base + approved if msg.get("39") == "00" else base
    else:
        rule = _request_rule(msg, mti)
        if rule is None:
            if any(m == mti for m, _, _ in _REQUESTS):
                raise _fail(mti, "3", "processing code missing or not in the profile", received)
            raise _fail(mti, "t", f"message type {mti} is not in the profile", received)
        need = rule
    get = msg.get
    return [f for f in need if not get(f)]


def check_mandatory(msg: Mapping[str, str | bytes], *, received: bool = False) -> None:
    """Raise naming the first missing mandatory field (and listing all of them).

    ``received=False`` (building a message to send) raises ``MessageEncodeError``;
    ``received=True`` (checking one that arrived) raises ``MessageDecodeError``. Also checks
    the reversal reason of a 0400/0401 (field 39: ``98``, ``96``, ``A0`` or ``06``).
    """
    missing = missing_fields(msg, received=received)
    mti = str(msg.get("t"))
    if missing:
        raise _fail(
            mti,
            missing[0],
            f"mandatory field {missing[0]} missing (all missing: {', '.join(missing)})",
            received,
        )
    if mti in ("0400", "0401") and msg.get("39") not in REVERSAL_REASONS:
        raise _fail(mti, "39", "reversal reason must be one of 98, 96, A0, 06", received)
