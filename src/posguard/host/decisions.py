"""What the issuer's rules take and give, as plain values: the parsed requests, the
:class:`Decision` the host answers, and the :data:`Effect` values a decision has on the ledger
(applied by :meth:`posguard.host.ledger.Ledger.apply` in the decision's one transaction).

A rule that returns effects instead of writing them can be tested with no SQLite, and a
decision is complete before its first write (see :meth:`Ledger.decision`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from posguard.iso8583.operations import TxnKind

if TYPE_CHECKING:  # settlement reads the ledger, which applies these effects
    from posguard.host.settlement import Totals

__all__ = [
    "AuthRequest",
    "Decision",
    "Effect",
    "Move",
    "PinTries",
    "Refunded",
    "ReversalRequest",
    "SetStatus",
    "Spend",
]


# Built for every request: not frozen, because a frozen dataclass's __init__ sets each field
# through object.__setattr__ (≈ 5x the cost of a plain slots class, measured on the sale path).
# Treat it as immutable all the same.
@dataclass(slots=True)
class AuthRequest:
    """A card transaction as the issuer sees it. ``pin`` is the clear PIN decrypted from field 52
    by the handler (None when no PIN was entered); ``pin_format_error`` when 52 did not decrypt
    to a valid ISO 9564 format-0 block."""

    kind: TxnKind
    tid: str
    mid: str
    stan: str
    batch: str
    txn_date: str
    pan: str | None
    amount: int | None
    expiry: str | None = None
    pin: str | None = field(default=None, repr=False)
    pin_format_error: bool = False
    orig_batch: str | None = None
    orig_stan: str | None = None
    orig_date: str | None = None
    orig_rrn: str | None = None
    currency: str | None = None
    entry_mode: str = ""


@dataclass(frozen=True, slots=True)
class ReversalRequest:
    """A 0400/0401: the original is (terminal, STAN, batch), and must have ``amount`` and the
    card ``pan`` (when the reversal carries one); ``reason`` is its field 39."""

    tid: str
    stan: str
    batch: str
    amount: int | None = None
    reason: str = ""
    repeat: bool = False
    pan: str | None = field(default=None, repr=False)


# Built for every request: not frozen, because a frozen dataclass's __init__ sets each field
# through object.__setattr__ (≈ 5x the cost of a plain slots class, measured on the sale path).
# Treat it as immutable all the same.
@dataclass(slots=True)
class Decision:
    """What the host answers: field 39, and 37/38/54 when they apply; ``reason`` is journalled."""

    rc: str
    reason: str
    rrn: str = ""
    auth_code: str = ""
    balance: int | None = None
    txn_id: int | None = None
    totals: Totals | None = None
    #: field 48's reconciliation answer code (对账应答代码) when it is not implied by ``rc``
    settle_flag: str | None = None

    @property
    def approved(self) -> bool:
        return self.rc == "00"


# -- effects: what a decision changes in the ledger ------------------------------------------


# Built for every request: not frozen, because a frozen dataclass's __init__ sets each field
# through object.__setattr__ (≈ 5x the cost of a plain slots class, measured on the sale path).
# Treat it as immutable all the same.
@dataclass(slots=True)
class Move:
    """An account's balance and hold change by these signed amounts (fen)."""

    account_id: str
    balance: int = 0
    held: int = 0


# Built for every request: not frozen, because a frozen dataclass's __init__ sets each field
# through object.__setattr__ (≈ 5x the cost of a plain slots class, measured on the sale path).
# Treat it as immutable all the same.
@dataclass(slots=True)
class Spend:
    """The account's approved debits of host day ``day`` change by ``amount`` (daily limit)."""

    account_id: str
    day: str
    amount: int


@dataclass(frozen=True, slots=True)
class PinTries:
    """The card's count of wrong PINs becomes ``tries``."""

    card_ref: bytes = field(repr=False)
    tries: int


@dataclass(frozen=True, slots=True)
class SetStatus:
    """Transaction ``txn_id`` becomes ``status`` (voided, completed, reversed, approved)."""

    txn_id: int
    status: str


@dataclass(frozen=True, slots=True)
class Refunded:
    """``amount`` more of transaction ``txn_id`` has been refunded (negative: less)."""

    txn_id: int
    amount: int


Effect = Move | Spend | PinTries | SetStatus | Refunded
