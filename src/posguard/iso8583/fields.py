"""Build and parse the profile's structured fields (3, 48, 60, 61) and the UnionPay header.

See docs/iso8583-profile.md. Bad values raise ``MessageEncodeError`` (building) or
``MessageDecodeError`` (parsing) naming the field.

>>> field60(MessageTypeCode.SALE, 1, NetworkCode.NONE)
'22000001000'
>>> parse_field60("22000001000")
Field60(type_code='22', batch='000001', net_code='000')
>>> field61(1, 123, "1125")
'0000010001231125'
>>> totals = SettlementTotals(debit_count=2, debit_amount=1500, credit_count=1, credit_amount=500)
>>> settlement_totals(totals)
'0000000015000020000000005000010'
>>> parse_settlement_totals('0000000015000020000000005000011')
(SettlementTotals(debit_count=2, debit_amount=1500, credit_count=1, credit_amount=500), '1')
>>> unionpay_header(tpdu_dest="0001")
'6000010000603100000000'
>>> response_header('6000010002603100000000')
'6000020001603100000000'
"""

from __future__ import annotations

from typing import NamedTuple

from posguard.common.errors import MessageDecodeError, MessageEncodeError
from posguard.iso8583.operations import OPERATIONS, TxnKind

_OP = OPERATIONS  # the values below are names for the operation table's, not a second copy


class ProcessingCode:
    """Field 3 values of the profile, by operation (from :mod:`posguard.iso8583.operations`)."""

    SALE = _OP[TxnKind.SALE].processing_code
    VOID = _OP[TxnKind.VOID].processing_code  # void of sale, refund, void of pre-auth
    REFUND = _OP[TxnKind.REFUND].processing_code
    BALANCE = _OP[TxnKind.BALANCE].processing_code
    PRE_AUTH = _OP[TxnKind.PREAUTH].processing_code
    PRE_AUTH_VOID = _OP[TxnKind.PREAUTH_VOID].processing_code
    COMPLETION = _OP[TxnKind.COMPLETION].processing_code
    COMPLETION_VOID = _OP[TxnKind.COMPLETION_VOID].processing_code


class MessageTypeCode:
    """Field 60.1 values of the profile: ``00`` for administrative messages, the operation
    table's for transactions."""

    ADMIN = "00"  # sign-on, sign-off, echo, settlement, end of batch upload
    BALANCE = _OP[TxnKind.BALANCE].type_code
    PRE_AUTH = _OP[TxnKind.PREAUTH].type_code
    PRE_AUTH_VOID = _OP[TxnKind.PREAUTH_VOID].type_code
    COMPLETION = _OP[TxnKind.COMPLETION].type_code
    COMPLETION_VOID = _OP[TxnKind.COMPLETION_VOID].type_code
    SALE = _OP[TxnKind.SALE].type_code
    VOID = _OP[TxnKind.VOID].type_code
    REFUND = _OP[TxnKind.REFUND].type_code


def answer_mti(mti: str) -> str:
    """The MTI of the answer to ``mti``, the one rule for host and terminal (ISO 8583:1987,
    message function in the third digit: request 0 -> response 1, advice 2 -> advice
    response 3; the fourth digit, a repeat's 1 included, becomes 0). A response MTI maps to
    itself, which a caller can test to refuse it.

    >>> [answer_mti(m) for m in ("0200", "0220", "0400", "0401", "0820", "0210")]
    ['0210', '0230', '0410', '0410', '0830', '0210']
    """
    if len(mti) != 4 or not (mti.isascii() and mti.isdigit()):
        raise ValueError(f"MTI {mti!r} is not 4 ASCII digits")
    return mti[:2] + str(int(mti[2]) | 1) + "0"


class NetworkCode:
    """Field 60.3 values of the profile."""

    NONE = "000"
    SIGN_OFF = "002"
    SIGN_ON = "003"  # double-length keys
    SETTLEMENT = "201"  # also each batch-upload 0320
    BATCH_UPLOAD_END = "202"  # end of the batch upload after an out-of-balance settlement
    ECHO = "301"


class SettlementFlag:
    """The flag after the totals in a 0510's field 48."""

    REQUEST = "0"
    BALANCED = "1"
    OUT_OF_BALANCE = "2"
    ERROR = "3"


class Field60(NamedTuple):
    type_code: str
    batch: str
    net_code: str


class Field61(NamedTuple):
    batch: str
    stan: str
    mmdd: str


class SettlementTotals(NamedTuple):
    debit_count: int
    debit_amount: int  # minor units (fen)
    credit_count: int
    credit_amount: int


def _digits(field: str, name: str, value: str | int, width: int) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MessageEncodeError(f"field {field}: {name} must be digits", field=field)
    text = f"{value:0{width}d}" if isinstance(value, int) and value >= 0 else str(value)
    if len(text) != width or not (text.isdigit() and text.isascii()):
        raise MessageEncodeError(
            f"field {field}: {name} must be {width} digits, got {len(text)} characters",
            field=field,
        )
    return text


def _need_digits(field: str, value: str, lengths: tuple[int, ...]) -> None:
    if not isinstance(value, str) or not (value.isdigit() and value.isascii()):
        raise MessageDecodeError(f"field {field}: must be digits", field=field)
    if len(value) not in lengths:
        want = " or ".join(str(n) for n in lengths)
        raise MessageDecodeError(
            f"field {field}: {len(value)} digits, expecting {want}", field=field
        )


def field60(type_code: str, batch: str | int, net_code: str = NetworkCode.NONE) -> str:
    """60.1 message type code (2) + 60.2 batch number (6) + 60.3 network code (3)."""
    return (
        _digits("60", "60.1", type_code, 2)
        + _digits("60", "60.2", batch, 6)
        + _digits("60", "60.3", net_code, 3)
    )


def parse_field60(value: str) -> Field60:
    """Split field 60; a longer CUPS field 60 (60.4, 60.5) keeps only the first three parts."""
    _need_digits("60", value, _FIELD60_LENGTHS)
    return Field60(value[:2], value[2:8], value[8:11])


_FIELD60_LENGTHS = tuple(range(11, 18))  # 60.1-60.3, up to 60.4 and 60.5 (parsed per request)


def field61(batch: str | int, stan: str | int, mmdd: str) -> str:
    """The original transaction: batch (6) + STAN (6) + date MMDD (4)."""
    mmdd = _digits("61", "date MMDD", mmdd, 4)
    month, day = int(mmdd[:2]), int(mmdd[2:])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise MessageEncodeError(f"field 61: {mmdd!r} is not a date MMDD", field="61")
    return _digits("61", "batch", batch, 6) + _digits("61", "STAN", stan, 6) + mmdd


def parse_field61(value: str) -> Field61:
    _need_digits("61", value, (16,))
    return Field61(value[:6], value[6:12], value[12:16])


def settlement_totals(totals: SettlementTotals, flag: str = SettlementFlag.REQUEST) -> str:
    """Field 48 of 0500/0510 (UnionPay layout): debit amount N12, debit count N3, credit
    amount N12, credit count N3, then the flag (0 in a request; 对账应答代码 in the answer)."""
    if flag not in ("0", "1", "2", "3"):
        raise MessageEncodeError(f"field 48: settlement flag {flag!r} is not 0-3", field="48")
    return (
        _digits("48", "debit amount", totals.debit_amount, 12)
        + _digits("48", "debit count", totals.debit_count, 3)
        + _digits("48", "credit amount", totals.credit_amount, 12)
        + _digits("48", "credit count", totals.credit_count, 3)
        + flag
    )


def parse_settlement_totals(value: str) -> tuple[SettlementTotals, str]:
    """The totals and the flag of a field 48 (31 digits; 30 accepted, flag then ``"0"``)."""
    _need_digits("48", value, (30, 31))
    flag = value[30:31] or SettlementFlag.REQUEST
    if flag not in ("0", "1", "2", "3"):
        raise MessageDecodeError(f"field 48: settlement flag {flag!r} is not 0-3", field="48")
    totals = SettlementTotals(
        debit_count=int(value[12:15]),
        debit_amount=int(value[0:12]),
        credit_count=int(value[27:30]),
        credit_amount=int(value[15:27]),
    )
    return totals, flag


class UploadEntry(NamedTuple):
    """One magnetic-stripe transaction in a batch-upload 0320's field 48."""

    org: str  # card organisation code, 2 digits (00 UnionPay)
    stan: str  # the transaction's STAN, 6 digits
    pan: str  # never logged
    amount: int  # minor units

    def __repr__(self) -> str:  # the PAN stays out of reprs and tracebacks
        return f"UploadEntry(org={self.org!r}, stan={self.stan!r}, amount={self.amount})"


MAX_UPLOAD_ENTRIES = 8
_ENTRY_LEN = 2 + 6 + 20 + 12


def upload_entries(entries: list[UploadEntry]) -> str:
    """Field 48 of a magnetic-stripe batch upload (0320, 60.3 = 201): count N2, then per
    transaction card organisation N2 + STAN N6 + PAN N20 (right-aligned, zero-filled) +
    amount N12; at most 8 transactions (2 + 8 x 40 = 322 digits).

    >>> e = UploadEntry("00", "000012", "6214839000000000015", 1500)
    >>> text = upload_entries([e])
    >>> len(text), text[:10]
    (42, '0100000012')
    >>> parse_upload_entries(text)[0] == e
    True
    """
    if not 1 <= len(entries) <= MAX_UPLOAD_ENTRIES:
        raise MessageEncodeError(
            f"field 48: a batch upload carries 1-{MAX_UPLOAD_ENTRIES} transactions, "
            f"not {len(entries)}",
            field="48",
        )
    out = f"{len(entries):02d}"
    for e in entries:
        out += (
            _digits("48", "card organisation", e.org, 2)
            + _digits("48", "STAN", e.stan, 6)
            + _digits("48", "PAN", e.pan.rjust(20, "0") if isinstance(e.pan, str) else "", 20)
            + _digits("48", "amount", e.amount, 12)
        )
    return out


def parse_upload_entries(value: str) -> list[UploadEntry]:
    """The transactions of a magnetic-stripe batch upload's field 48."""
    if not isinstance(value, str) or len(value) < 2 or not value[:2].isdigit():
        raise MessageDecodeError(
            "field 48: batch upload must start with a 2-digit count", field="48"
        )
    n = int(value[:2])
    if not 1 <= n <= MAX_UPLOAD_ENTRIES:
        raise MessageDecodeError(f"field 48: batch upload count {n} is not 1-8", field="48")
    _need_digits("48", value, (2 + n * _ENTRY_LEN,))
    entries = []
    for i in range(n):
        at = 2 + i * _ENTRY_LEN
        chunk = value[at : at + _ENTRY_LEN]
        entries.append(
            UploadEntry(chunk[0:2], chunk[2:8], chunk[8:28].lstrip("0"), int(chunk[28:40]))
        )
    return entries


def unionpay_header(
    *,
    tpdu_dest: str = "0000",
    tpdu_src: str = "0000",
    app: str = "60",
    version: str = "31",
    status: str = "0",
    request: str = "0",
    sub_version: str = "000000",
) -> str:
    """Field ``h`` of the unionpay spec: TPDU (ID ``60`` + destination + source address)
    and the 6-byte CUPS header (application type, software version, terminal status and
    processing request, software sub-version), as 22 hex digits."""
    parts = (
        ("TPDU destination", tpdu_dest, 4),
        ("TPDU source", tpdu_src, 4),
        ("application type", app, 2),
        ("version", version, 2),
        ("terminal status", status, 1),
        ("processing request", request, 1),
        ("sub-version", sub_version, 6),
    )
    out = "60"
    for name, value, width in parts:
        out += _digits("h", name, value, width)
    return out


def response_header(request_h: str) -> str:
    """The header for the answer to a request: TPDU source and destination swapped."""
    if not isinstance(request_h, str) or len(request_h) != 22:
        raise MessageDecodeError("field h: must be 22 hex digits", field="h")
    try:
        bytes.fromhex(request_h)
    except ValueError:
        raise MessageDecodeError("field h: must be 22 hex digits", field="h") from None
    return request_h[:2] + request_h[6:10] + request_h[2:6] + request_h[10:]
