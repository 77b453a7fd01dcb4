"""Which operation a request is, from MTI + processing code (field 3) + field 60.1, as in the
profile's message-type table (docs/iso8583-profile.md).

>>> classify("0200", "000000", "22")
<TxnKind.SALE: 'sale'>
>>> classify("0200", "000000", "20")
<TxnKind.COMPLETION: 'completion'>
>>> classify("0200", "200000", "21")
<TxnKind.COMPLETION_VOID: 'completion_void'>
>>> classify("0200", "999999", "22") is None
True
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DEBITS", "REVERSIBLE", "TxnKind", "classify"]


class TxnKind(StrEnum):
    BALANCE = "balance"
    SALE = "sale"
    VOID = "void"
    REFUND = "refund"
    PREAUTH = "preauth"
    PREAUTH_VOID = "preauth_void"
    COMPLETION = "completion"
    COMPLETION_VOID = "completion_void"


_TABLE: dict[tuple[str, str, str], TxnKind] = {
    ("0200", "310000", "01"): TxnKind.BALANCE,
    ("0200", "000000", "22"): TxnKind.SALE,
    ("0200", "200000", "23"): TxnKind.VOID,
    ("0220", "200000", "25"): TxnKind.REFUND,
    ("0100", "030000", "10"): TxnKind.PREAUTH,
    ("0100", "200000", "11"): TxnKind.PREAUTH_VOID,
    ("0200", "000000", "20"): TxnKind.COMPLETION,
    ("0200", "200000", "21"): TxnKind.COMPLETION_VOID,
}

#: Kinds that count as debits in settlement totals; refunds are the credits.
DEBITS = frozenset({TxnKind.SALE, TxnKind.COMPLETION})
#: Kinds a reversal can undo.
REVERSIBLE = frozenset(
    {
        TxnKind.SALE,
        TxnKind.VOID,
        TxnKind.PREAUTH,
        TxnKind.PREAUTH_VOID,
        TxnKind.COMPLETION,
        TxnKind.COMPLETION_VOID,
    }
)


def classify(mti: str, processing_code: str, type_code: str) -> TxnKind | None:
    """The operation for a financial/authorisation request, or None when the combination is not
    one the profile defines (answered ``12`` invalid transaction)."""
    return _TABLE.get((mti, processing_code, type_code))


def classify_original(processing_code: str, type_code: str) -> TxnKind | None:
    """The operation a reversal or batch upload refers to (by field 3 and 60.1; not by MTI)."""
    for (_mti, f3, f60), kind in _TABLE.items():
        if f3 == processing_code and f60 == type_code:
            return kind
    return None
