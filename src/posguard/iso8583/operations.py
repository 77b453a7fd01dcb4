"""The profile's operation table, written once: per transaction kind its MTI, processing
code (field 3), POS condition code (field 25), message type code (60.1), whether a lost
answer is reversed, and which settlement total (field 48 of 0500) it counts into.

The terminal routes by kind (:data:`OPERATIONS`), the host classifies by wire values
(:func:`classify`, :func:`classify_original`), and both sides' settlement totals read
:attr:`Operation.side`. The values follow 中国银联 POS 终端消息域说明 (2002), section 1, the
table of elements that determine the transaction type (docs/iso8583-profile.md, "Message
types"); ``tests/iso8583/test_operations.py`` checks them against that table.

>>> OPERATIONS[TxnKind.SALE]
Operation(kind=<TxnKind.SALE: 'sale'>, mti='0200', processing_code='000000', condition='00', \
type_code='22', reversible=True, side=<Side.DEBIT: 'debit'>, original=False)
>>> classify("0200", "200000", "21")
<TxnKind.COMPLETION_VOID: 'completion_void'>
>>> classify("0200", "999999", "22") is None
True
>>> classify_original("200000", "25")
<TxnKind.REFUND: 'refund'>
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, NamedTuple

__all__ = [
    "CREDITS",
    "DEBITS",
    "OPERATIONS",
    "REVERSIBLE",
    "Operation",
    "Side",
    "TxnKind",
    "classify",
    "classify_original",
]


class TxnKind(StrEnum):
    """The one transaction-kind vocabulary of terminal journal, host ledger and events."""

    SALE = "sale"
    VOID = "void"
    REFUND = "refund"
    BALANCE = "balance"
    PREAUTH = "preauth"
    PREAUTH_VOID = "preauth_void"
    COMPLETION = "completion"
    COMPLETION_VOID = "completion_void"

    @property
    def operation(self) -> Operation:
        return OPERATIONS[self]

    @property
    def reversible(self) -> bool:
        """A lost or unusable answer is reversed (0400): it may have moved money."""
        return OPERATIONS[self].reversible

    @property
    def is_advice(self) -> bool:
        """An advice (0220, the refund): stored and forwarded when no host is reachable."""
        return OPERATIONS[self].is_advice

    @property
    def cancels_original(self) -> bool:
        """A void of an earlier transaction (of a sale, a pre-auth, a completion)."""
        return self in _CANCELS


class Side(StrEnum):
    """Which settlement total of field 48 an approved, not voided transaction counts into."""

    DEBIT = "debit"
    CREDIT = "credit"
    NONE = "none"  # balance inquiries, pre-auths (a hold, not a charge) and voids


class Operation(NamedTuple):
    """One row of the operation table. ``mti``, ``processing_code``, ``condition`` and
    ``type_code`` are the wire values of fields t, 3, 25 and 60.1."""

    kind: TxnKind
    mti: str
    processing_code: str
    condition: str
    type_code: str
    reversible: bool
    side: Side
    original: bool  # names an earlier transaction (fields 37 and 61): voids, refund, completion

    @property
    def is_advice(self) -> bool:
        """ISO 8583:1987 message function ``2`` (advice) in the MTI's third digit."""
        return self.mti[2] == "2"


_K, _D, _C, _N = TxnKind, Side.DEBIT, Side.CREDIT, Side.NONE
#: kind -> (MTI, field 3, field 25, 60.1, reversible, settlement side, names an original)
OPERATIONS: Final[dict[TxnKind, Operation]] = {
    op.kind: op
    for op in (
        Operation(_K.BALANCE, "0200", "310000", "00", "01", False, _N, False),
        Operation(_K.PREAUTH, "0100", "030000", "06", "10", True, _N, False),
        Operation(_K.PREAUTH_VOID, "0100", "200000", "06", "11", True, _N, True),
        Operation(_K.COMPLETION, "0200", "000000", "06", "20", True, _D, True),
        Operation(_K.COMPLETION_VOID, "0200", "200000", "06", "21", True, _N, True),
        Operation(_K.SALE, "0200", "000000", "00", "22", True, _D, False),
        Operation(_K.VOID, "0200", "200000", "00", "23", True, _N, True),
        Operation(_K.REFUND, "0220", "200000", "00", "25", False, _C, True),
    )
}
_CANCELS: Final = frozenset({TxnKind.VOID, TxnKind.PREAUTH_VOID, TxnKind.COMPLETION_VOID})

#: kinds counted as debits / credits in settlement totals
DEBITS: Final = frozenset(k for k, op in OPERATIONS.items() if op.side is Side.DEBIT)
CREDITS: Final = frozenset(k for k, op in OPERATIONS.items() if op.side is Side.CREDIT)
#: kinds a reversal can undo
REVERSIBLE: Final = frozenset(k for k, op in OPERATIONS.items() if op.reversible)

_BY_WIRE: Final = {(o.mti, o.processing_code, o.type_code): k for k, o in OPERATIONS.items()}
_BY_ORIGINAL: Final = {(o.processing_code, o.type_code): k for k, o in OPERATIONS.items()}


def classify(mti: str, processing_code: str, type_code: str) -> TxnKind | None:
    """The operation a financial/authorisation request is, from its MTI, field 3 and 60.1;
    None when the combination is not one of the table's (answered ``12``)."""
    return _BY_WIRE.get((mti, processing_code, type_code))


def classify_original(processing_code: str, type_code: str) -> TxnKind | None:
    """The operation a reversal or batch upload refers to (by field 3 and 60.1; not by MTI)."""
    return _BY_ORIGINAL.get((processing_code, type_code))
