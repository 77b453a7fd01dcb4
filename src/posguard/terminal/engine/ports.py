"""What each participant needs from the rest of the terminal, one protocol per role, naming
exactly the methods it calls. The runtime passes the real objects (the journal, the host
session, the reversal sender, the advice forwarder); a unit test passes in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Protocol

from posguard.common.events import EventKind
from posguard.iso8583.codec import Message
from posguard.terminal.engine.session import Reply
from posguard.terminal.journal.records import Record, Totals
from posguard.terminal.journal.store import Draft
from posguard.terminal.reversal import RoundReport
from posguard.terminal.saf import ForwardReport

# Called with the completed record (prints the receipts); raising means "could not complete
# on the terminal".
Completer = Callable[[Record], object]

# Today's date, for the card's expiry.
Today = Callable[[], date]


class SignOn(Protocol):
    """The host session, as far as keeping working keys goes."""

    async def ensure_signed_on(self) -> Reply | None:
        """None when keys are in hand (signing on if needed); else the failed sign-on's reply."""
        ...


class HostExchange(SignOn, Protocol):
    """The host session, as far as sending a request and reading its checked answer goes."""

    async def exchange(self, msg: Message) -> Reply: ...


class ReversalBacklog(Protocol):
    """The journal, read for reversals still owed to the host."""

    def pending_reversals(self) -> Sequence[Record]: ...


class ReversalRunner(Protocol):
    """Sends the reversals owed, one round."""

    async def run(self, *, only_due: bool) -> RoundReport: ...


class DueReversal(Protocol):
    """What the journal step does with a reversal it has just made due: announce it, and
    try it once when the host has just answered."""

    def queued(self, rec: Record) -> None: ...

    async def send_one(self, rec: Record) -> tuple[bool, str | None]: ...


class AdviceRunner(Protocol):
    """Forwards the queued advices, one round."""

    async def run(self, *, only_due: bool) -> ForwardReport: ...


class AdviceSender(Protocol):
    """Offers one queued advice (a refund, 0220) to the host."""

    async def send_one(self, rec: Record, *, inline: bool) -> tuple[Record, Reply]: ...


class WriteAheadJournal(Protocol):
    """The journal writes of the write-ahead step: begin a record before the request leaves,
    resolve it when the flow aborts."""

    def begin(self, draft: Draft) -> Record: ...

    def get(self, rid: int) -> Record: ...

    def mark_declined(self, rid: int, *, rc: str, code: str | None, host: str | None) -> Record: ...

    def mark_not_sent(self, rid: int, *, code: str | None) -> Record: ...

    def mark_reversal_due(
        self,
        rid: int,
        *,
        reason: str,
        code: str | None,
        rc: str | None = None,
        host: str | None = None,
        amount: int | None = None,
    ) -> Record: ...


class CompletionJournal(Protocol):
    """The journal writes of the completion step: approved, then completed."""

    def mark_approved(
        self,
        rid: int,
        *,
        rc: str,
        rrn: str | None,
        auth_code: str | None,
        host: str,
        amount: int | None = None,
    ) -> Record: ...

    def mark_completed(self, rid: int) -> Record: ...


class SettlementHost(HostExchange, Protocol):
    """The host session as settlement uses it: exchange, sign on, and report a fault."""

    def emit(self, kind: EventKind, code: str | None = None, **data: object) -> None: ...


class SettlementJournal(Protocol):
    """The journal as settlement reads and writes it: the batch, its totals and records (and
    their cards, for the batch upload), STANs, and the settlement's outcome."""

    def current_batch(self) -> str: ...

    def next_stan(self) -> str: ...

    def totals(self, batch: str) -> Totals: ...

    def records(self, *, batch: str) -> Sequence[Record]: ...

    def card(self, rec: Record) -> tuple[str, str]: ...

    def record_settlement(self, batch: str, totals: Totals, result: str, *, close: bool) -> str: ...
