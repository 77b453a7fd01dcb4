"""In-memory fakes of the participants' ports (:mod:`posguard.terminal.engine.ports`): no
sockets, no SQLite. Each records the calls it gets, so a test can say which journal writes a
step made, with which arguments, and what it sent to the host."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from posguard.common.events import EventKind
from posguard.iso8583.codec import Message
from posguard.terminal.config import PracticeConfig, TerminalConfig
from posguard.terminal.engine.context import Context, TxnInput
from posguard.terminal.engine.session import Reply, Status
from posguard.terminal.journal.records import Kind, Record, TxnState
from posguard.terminal.journal.store import Draft
from posguard.terminal.reversal import RoundReport
from posguard.terminal.testing import LAB_EXPIRY, lab_cards, local_config

PAN = lab_cards()[0]
HOST = "primary"


def config(**practice: bool) -> TerminalConfig:
    """A lab terminal's config (``practice`` as given); nothing is opened or dialled from it."""
    cfg = local_config(5800, Path("never-opened.db"))
    return cfg.model_copy(update={"practice": PracticeConfig(**practice)})


def record(**changes: Any) -> Record:
    """A sale as the journal writes it before the request leaves (SENDING, reversal 98)."""
    base = Record(
        id=1,
        stan="000123",
        batch="000001",
        kind=Kind.SALE,
        state=TxnState.SENDING,
        amount=1000,
        currency="156",
        masked_pan="621483******0001",
        brand="unionpay",
        entry_mode="051",
        local_date="1202",
        local_time="181500",
        created_at="2026-12-02T18:15:00.000+00:00",
        reversal_reason="98",
    )
    return replace(base, **changes)


def context(rec: Record | None = None, **inp: Any) -> Context:
    """The context of a sale of 10.00 on the lab card, at the step after ``rec`` was written."""
    args: dict[str, Any] = {"kind": Kind.SALE, "amount": 1000, "pan": PAN, "expiry": LAB_EXPIRY}
    args.update(inp)
    return Context(TxnInput(**args), record=rec)


def recorded(ctx: Context) -> Record:
    """The journal record a step left in the context (there must be one)."""
    assert ctx.record is not None, "no journal record in the context"
    return ctx.record


def answer(rc: str, **fields: str) -> Message:
    """An 0210 with response code ``rc`` (and RRN, authorisation code unless given)."""
    msg: Message = {"t": "0210", "11": "000123", "39": rc, "37": "123456789012", "38": "AB1234"}
    msg.update(fields)
    return msg


def ok(rc: str, *, code: str | None = None, **fields: str) -> Reply:
    """An authentic answer from the primary host."""
    return Reply(Status.OK, answer(rc, **fields), HOST, code)


Call = tuple[str, int, dict[str, Any]]


class FakeJournal:
    """The journal as the participants see it: records by id, each write kept in ``calls`` as
    (method, record id, keyword arguments) and applied to the stored record."""

    def __init__(self, *records: Record, pending: Sequence[Record] = ()) -> None:
        self.records = {r.id: r for r in records}
        self.pending = list(pending)
        self.calls: list[Call] = []
        self.drafts: list[Draft] = []

    def _write(self, name: str, rid: int, args: dict[str, Any], **cols: Any) -> Record:
        self.calls.append((name, rid, args))
        self.records[rid] = replace(self.records[rid], **cols)
        return self.records[rid]

    def begin(self, draft: Draft) -> Record:
        self.drafts.append(draft)
        rid = max(self.records, default=0) + 1
        self.records[rid] = record(
            id=rid,
            kind=draft.kind,
            amount=draft.amount,
            currency=draft.currency,
            entry_mode=draft.entry_mode,
            training=draft.training,
            state=TxnState.ADVICE_PENDING if draft.kind.is_advice else TxnState.SENDING,
            reversal_reason="98" if draft.kind.reversible else None,
        )
        self.calls.append(("begin", rid, {}))
        return self.records[rid]

    def get(self, rid: int) -> Record:
        return self.records[rid]

    def pending_reversals(self) -> list[Record]:
        return list(self.pending)

    def mark_declined(self, rid: int, *, rc: str, code: str | None, host: str | None) -> Record:
        args = {"rc": rc, "code": code, "host": host}
        return self._write("mark_declined", rid, args, state=TxnState.DECLINED, rc=rc, code=code)

    def mark_not_sent(self, rid: int, *, code: str | None) -> Record:
        return self._write("mark_not_sent", rid, {"code": code}, state=TxnState.NOT_SENT)

    def mark_reversal_due(
        self,
        rid: int,
        *,
        reason: str,
        code: str | None,
        rc: str | None = None,
        host: str | None = None,
        amount: int | None = None,
    ) -> Record:
        args = {"reason": reason, "code": code, "rc": rc, "host": host, "amount": amount}
        state = TxnState.REVERSAL_PENDING
        return self._write("mark_reversal_due", rid, args, state=state, reversal_reason=reason)

    def mark_approved(
        self,
        rid: int,
        *,
        rc: str,
        rrn: str | None,
        auth_code: str | None,
        host: str,
        amount: int | None = None,
    ) -> Record:
        args = {"rc": rc, "rrn": rrn, "auth_code": auth_code, "host": host, "amount": amount}
        rec = self.records[rid]
        state = TxnState.APPROVED if rec.kind.reversible else TxnState.COMPLETED
        new_amount = rec.amount if amount is None else amount
        return self._write("mark_approved", rid, args, state=state, amount=new_amount)

    def mark_completed(self, rid: int) -> Record:
        return self._write("mark_completed", rid, {}, state=TxnState.COMPLETED)


class FakeSession:
    """The host session: ``exchange`` answers with the scripted replies in turn (and keeps
    what it was sent); ``ensure_signed_on`` with the scripted sign-on results (None: keys in
    hand), None once they run out."""

    def __init__(self, *replies: Reply, sign_on: Sequence[Reply | None] = ()) -> None:
        self.replies = list(replies)
        self.sign_on_results = list(sign_on)
        self.sent: list[Message] = []
        self.sign_on_calls = 0
        self.emitted: list[tuple[EventKind, str | None]] = []

    async def exchange(self, msg: Message) -> Reply:
        self.sent.append(msg)
        return self.replies.pop(0)

    async def ensure_signed_on(self) -> Reply | None:
        self.sign_on_calls += 1
        return self.sign_on_results.pop(0) if self.sign_on_results else None

    def emit(self, kind: EventKind, code: str | None = None, **data: object) -> None:
        self.emitted.append((kind, code))


@dataclass
class FakeReversals:
    """The reversal sender: a round returns ``report``; one try returns ``closed`` and, when
    closed, turns the record REVERSED in ``journal`` as the real sender does."""

    report: RoundReport = field(default_factory=RoundReport)
    closed: bool = True
    journal: FakeJournal | None = None
    rounds: list[bool] = field(default_factory=list)  # only_due of each round
    queued_records: list[Record] = field(default_factory=list)
    tried: list[Record] = field(default_factory=list)

    async def run(self, *, only_due: bool) -> RoundReport:
        self.rounds.append(only_due)
        return self.report

    def queued(self, rec: Record) -> None:
        self.queued_records.append(rec)

    async def send_one(self, rec: Record) -> tuple[bool, str | None]:
        self.tried.append(rec)
        if not self.closed:
            return False, "NET.READ_TIMEOUT"
        if self.journal is not None:
            self.journal.records[rec.id] = replace(rec, state=TxnState.REVERSED)
        return True, None


@dataclass
class FakeAdvices:
    """The advice forwarder: one try resolves the record to ``state`` with ``reply``."""

    state: TxnState
    reply: Reply
    sent: list[tuple[Record, bool]] = field(default_factory=list)  # (record, inline)

    async def send_one(self, rec: Record, *, inline: bool) -> tuple[Record, Reply]:
        self.sent.append((rec, inline))
        return replace(rec, state=self.state), self.reply


@dataclass
class FakePrinter:
    """The completion hook: keeps the records it completed; raises ``fails`` when set."""

    fails: Exception | None = None
    completed: list[Record] = field(default_factory=list)

    def __call__(self, rec: Record) -> None:
        if self.fails is not None:
            raise self.fails
        self.completed.append(rec)
