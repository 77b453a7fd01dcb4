"""``ForwardAdvice`` (a refund sent as an advice) on its own, over fakes of the journal, the
reversal sender, the advice forwarder and the printer: no sockets, no SQLite."""

from __future__ import annotations

import pytest

from posguard.terminal.engine.advice import ForwardAdvice
from posguard.terminal.engine.flow import PREPARED
from posguard.terminal.engine.session import Reply, Status
from posguard.terminal.journal.records import Kind, TxnState
from posguard.terminal.result import Outcome
from posguard.terminal.reversal import RoundReport

from .engine_fakes import (
    HOST,
    FakeAdvices,
    FakeJournal,
    FakePrinter,
    FakeReversals,
    context,
    ok,
    record,
)

REFUND = record(kind=Kind.REFUND, state=TxnState.ADVICE_PENDING, reversal_reason=None)


def forward(
    advices: FakeAdvices,
    *,
    journal: FakeJournal | None = None,
    reversals: FakeReversals | None = None,
    printer: FakePrinter | None = None,
) -> ForwardAdvice:
    return ForwardAdvice(
        journal=journal or FakeJournal(REFUND),
        reversals=reversals or FakeReversals(),
        advices=advices,
        complete=printer or FakePrinter(),
    )


async def test_a_refund_answered_00_is_approved_and_printed() -> None:
    advices, printer, reversals = (
        FakeAdvices(TxnState.COMPLETED, ok("00")),
        FakePrinter(),
        FakeReversals(),
    )
    step = forward(advices, printer=printer, reversals=reversals)
    ctx = context(REFUND, kind=Kind.REFUND)
    assert await step.prepare(ctx) is PREPARED
    assert advices.sent == [(REFUND, True)]  # offered inline, the operator waiting
    assert reversals.rounds == []  # nothing owed, no round
    assert (ctx.host, ctx.rc, ctx.code) == (HOST, "00", None)
    await step.commit(ctx)
    assert ctx.outcome is Outcome.APPROVED
    assert [r.state for r in printer.completed] == [TxnState.COMPLETED]


async def test_owed_reversals_are_tried_before_the_advice() -> None:
    owed = FakeJournal(REFUND, pending=[record(state=TxnState.REVERSAL_PENDING)])
    reversals = FakeReversals(report=RoundReport(still_pending=1))
    advices = FakeAdvices(TxnState.COMPLETED, ok("00"))
    await forward(advices, journal=owed, reversals=reversals).prepare(context(REFUND))
    assert reversals.rounds == [False]
    assert len(advices.sent) == 1  # best effort: the advice goes (or waits) anyway


@pytest.mark.parametrize(
    ("reply", "note"),
    [
        (Reply(Status.NO_ANSWER, None, HOST, "NET.READ_TIMEOUT"), "no answer: NET.READ_TIMEOUT"),
        (ok("96", code="TXN.HOST_ERROR"), "96: TXN.HOST_ERROR"),
    ],
)
async def test_a_refund_the_host_did_not_take_is_stored_not_failed(reply: Reply, note: str) -> None:
    """Store-and-forward (UnionPay practice): an advice stays queued through no answer and
    transient answers; the operator hears "stored", not a fault, and gets the slip."""
    printer = FakePrinter()
    step = forward(FakeAdvices(TxnState.ADVICE_PENDING, reply), printer=printer)
    ctx = context(REFUND, kind=Kind.REFUND)
    await step.prepare(ctx)
    assert ctx.code is None
    assert ctx.notes == [f"advice queued after {note}"]
    await step.commit(ctx)
    assert ctx.outcome is Outcome.STORED
    assert len(printer.completed) == 1


async def test_a_declined_refund_is_declined_and_not_printed() -> None:
    printer = FakePrinter()
    step = forward(
        FakeAdvices(TxnState.DECLINED, ok("05", code="TXN.DO_NOT_HONOR")), printer=printer
    )
    ctx = context(REFUND, kind=Kind.REFUND)
    await step.prepare(ctx)
    assert (ctx.code, ctx.rc) == ("TXN.REFUND_DECLINED", "05")
    await step.commit(ctx)
    assert ctx.outcome is Outcome.DECLINED
    assert printer.completed == []


async def test_a_refund_slip_that_cannot_print_does_not_undo_the_refund() -> None:
    printer = FakePrinter(fails=OSError("paper out"))
    step = forward(FakeAdvices(TxnState.COMPLETED, ok("00")), printer=printer)
    ctx = context(REFUND, kind=Kind.REFUND)
    await step.prepare(ctx)
    await step.commit(ctx)
    assert ctx.outcome is Outcome.APPROVED
    assert ctx.notes == ["receipt not queued: OSError: paper out"]
