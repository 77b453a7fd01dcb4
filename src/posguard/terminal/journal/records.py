"""What the journal stores: transaction kinds, states, and the record read back."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from posguard.iso8583.operations import Side, TxnKind

#: The journal's transaction kinds: the one enum of the ISO 8583 operation table
#: (:mod:`posguard.iso8583.operations`), under the name the terminal has always used.
Kind = TxnKind


class TxnState(StrEnum):
    """Life of one journal record. A reversal is due exactly in REVERSAL_PENDING (and, before
    recovery after a crash, in SENDING and APPROVED of a reversible kind)."""

    SENDING = "sending"  # written before the request leaves (the reversal record, reason 98)
    APPROVED = "approved"  # approved answer in, not yet completed (reversal reason 96 if lost)
    COMPLETED = "completed"  # approved and completed on the terminal
    DECLINED = "declined"  # the host declined it: nothing to reverse
    NOT_SENT = "not_sent"  # never left the terminal (no host reachable): no charge
    REVERSAL_PENDING = "reversal_pending"  # answer lost / bad / not completed: reversal queued
    REVERSED = "reversed"  # the host answered the reversal (any authentic 0410 closes it)
    REVERSAL_FAILED = "reversal_failed"  # unanswered after the configured tries, or of an
    # earlier day (not sent): a reconciliation item (RECON.REVERSAL_FAILED), no longer blocking
    ADVICE_PENDING = "advice_pending"  # an advice waiting in the store-and-forward queue


@dataclass(frozen=True, slots=True)
class Record:
    """One journal row, with the PAN masked (the clear PAN is only in the encrypted blob)."""

    id: int
    stan: str
    batch: str
    kind: Kind
    state: TxnState
    amount: int
    currency: str
    masked_pan: str
    brand: str
    entry_mode: str
    local_date: str
    local_time: str
    created_at: str
    rc: str | None = None
    rrn: str | None = None
    auth_code: str | None = None
    host: str | None = None
    code: str | None = None
    reversal_reason: str | None = None
    reversal_attempts: int = 0
    reversal_unanswered: int = 0
    reversal_rc: str | None = None
    advice_attempts: int = 0
    voided: bool = False
    orig_id: int | None = None
    orig_stan: str | None = None
    orig_batch: str | None = None
    orig_date: str | None = None
    orig_rrn: str | None = None
    orig_auth: str | None = None
    completed_at: str | None = None
    training: bool = False  # a practice transaction (培训): never moves money

    @property
    def counts_as_charge(self) -> bool:
        """True when this record moves money at settlement (debit or credit)."""
        return (
            not self.training
            and self.state is TxnState.COMPLETED
            and self.kind.operation.side is not Side.NONE
        )


@dataclass(frozen=True, slots=True)
class Totals:
    """Settlement totals of one batch, in minor units."""

    debit_count: int = 0
    debit_amount: int = 0
    credit_count: int = 0
    credit_amount: int = 0
