"""Each participant of a payment on its own (``CheckLocal``, ``SignedOn``, ``ClearReversals``,
``Complete``; ``WriteAhead``, ``Exchange`` and ``ForwardAdvice`` have their own modules), with
in-memory fakes of what it uses: no sockets, no SQLite, no real journal. Each test says which
journal writes the step made and how it left the context (failure, code, outcome)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from posguard.terminal.engine.backlog import ClearReversals, SignedOn
from posguard.terminal.engine.complete import Complete
from posguard.terminal.engine.context import Failure
from posguard.terminal.engine.flow import ABORTED, PREPARED
from posguard.terminal.engine.local import MAX_AMOUNT, CheckLocal
from posguard.terminal.engine.session import Reply, Status
from posguard.terminal.journal.records import Kind, Record, TxnState
from posguard.terminal.result import Outcome
from posguard.terminal.reversal import RoundReport

from .engine_fakes import (
    HOST,
    PAN,
    FakeJournal,
    FakePrinter,
    FakeReversals,
    FakeSession,
    answer,
    context,
    record,
    recorded,
)

TODAY = date(2026, 12, 2)  # the lab card's expiry 3012 is four years ahead


# -- CheckLocal ------------------------------------------------------------------------------


async def test_local_checks_pass_a_good_sale() -> None:
    ctx = context()
    assert await CheckLocal(today=lambda: TODAY).prepare(ctx) is PREPARED
    assert (ctx.failure, ctx.code) == (None, None)


async def test_local_checks_read_expiry_against_the_clock_they_are_given() -> None:
    ctx = context()
    assert await CheckLocal(today=lambda: date(2031, 1, 1)).prepare(ctx) is ABORTED
    assert (ctx.failure, ctx.code) == (Failure.LOCAL, "CARD.EXPIRED")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"pan": PAN[:-1] + str((int(PAN[-1]) + 1) % 10)}, "CARD.LUHN_INVALID"),
        ({"expiry": "3013"}, "CARD.BAD_FORMAT"),
        ({"entry_mode": "991"}, "TXN.INVALID_TRANSACTION"),  # not a known card entry
        ({"entry_mode": "053"}, "TXN.INVALID_TRANSACTION"),  # PIN digit must be 0/1/2
        ({"entry_mode": "05"}, "TXN.INVALID_TRANSACTION"),
        ({"amount": 0}, "TXN.INVALID_AMOUNT"),
        ({"amount": MAX_AMOUNT + 1}, "TXN.INVALID_AMOUNT"),  # does not fit field 4 (n12)
    ],
)
async def test_local_checks_refuse_before_anything_is_written(
    changes: dict[str, Any], code: str
) -> None:
    ctx = context(**changes)
    assert await CheckLocal(today=lambda: TODAY).prepare(ctx) is ABORTED
    assert (ctx.failure, ctx.code, ctx.record) == (Failure.LOCAL, code, None)


async def test_a_balance_inquiry_needs_no_amount() -> None:
    ctx = context(kind=Kind.BALANCE, amount=0)
    assert await CheckLocal(today=lambda: TODAY).prepare(ctx) is PREPARED


@pytest.mark.parametrize(
    "orig",
    [
        record(state=TxnState.DECLINED),
        record(state=TxnState.REVERSAL_PENDING),
        record(state=TxnState.COMPLETED, voided=True),
    ],
)
async def test_a_follow_up_needs_a_completed_original_not_yet_voided(orig: Record) -> None:
    ctx = context(kind=Kind.VOID, orig=orig)
    assert await CheckLocal(today=lambda: TODAY).prepare(ctx) is ABORTED
    assert (ctx.failure, ctx.code) == (Failure.LOCAL, "TXN.ORIGINAL_NOT_FOUND")
    assert ctx.notes
    assert "original STAN 000123" in ctx.notes[0]


async def test_a_void_is_for_the_original_amount_a_completion_need_not_be() -> None:
    """A void cancels the original whole; a pre-auth completion may be for another amount
    (the host applies its 115 % rule)."""
    sale = record(state=TxnState.COMPLETED, amount=1000)
    void = context(kind=Kind.VOID, amount=999, orig=sale)
    assert await CheckLocal(today=lambda: TODAY).prepare(void) is ABORTED
    assert void.code == "TXN.INVALID_AMOUNT"
    preauth = replace(sale, kind=Kind.PREAUTH)
    completion = context(kind=Kind.COMPLETION, amount=1100, orig=preauth)
    assert await CheckLocal(today=lambda: TODAY).prepare(completion) is PREPARED


# -- SignedOn --------------------------------------------------------------------------------


async def test_signed_on_goes_on_when_keys_are_in_hand() -> None:
    session, ctx = FakeSession(), context()
    assert await SignedOn(session=session).prepare(ctx) is PREPARED
    assert session.sign_on_calls == 1
    assert ctx.failure is None


async def test_a_failed_sign_on_means_nothing_was_sent() -> None:
    refused = Reply(Status.OK, answer("97"), HOST, "CFG.NOT_SIGNED_ON")
    for failed, code, rc in [
        (Reply(Status.NOT_SENT, None, None, "NET.CONNECT_REFUSED"), "NET.CONNECT_REFUSED", None),
        (replace(refused, code=None), "CFG.NOT_SIGNED_ON", "97"),
    ]:
        ctx = context()
        assert await SignedOn(session=FakeSession(sign_on=[failed])).prepare(ctx) is ABORTED
        assert (ctx.failure, ctx.code, ctx.rc) == (Failure.NOT_SENT, code, rc)


async def test_signed_on_signs_on_again_on_abort_only_when_the_host_asked() -> None:
    """UnionPay practice: 77 / 99 / A0 in field 39 drop the working keys; the terminal signs
    on again at once so the operator can retry."""
    session = FakeSession()
    step, ctx = SignedOn(session=session), context()
    await step.abort(ctx)
    assert session.sign_on_calls == 0
    ctx.sign_on_again = True
    await step.abort(ctx)
    assert session.sign_on_calls == 1


# -- ClearReversals --------------------------------------------------------------------------


async def test_no_reversal_owed_no_round() -> None:
    reversals = FakeReversals()
    step = ClearReversals(journal=FakeJournal(), reversals=reversals)
    assert await step.prepare(context()) is PREPARED
    assert reversals.rounds == []


async def test_owed_reversals_are_all_sent_first_and_the_sale_goes_on_when_acknowledged() -> None:
    owed = FakeJournal(pending=[record(state=TxnState.REVERSAL_PENDING)])
    reversals = FakeReversals(report=RoundReport(acknowledged=["000123"]))
    ctx = context()
    assert await ClearReversals(journal=owed, reversals=reversals).prepare(ctx) is PREPARED
    assert reversals.rounds == [False]  # every one owed, not only those whose backoff ran out
    assert ctx.failure is None


async def test_a_sale_waits_while_a_reversal_is_unacknowledged() -> None:
    """UnionPay practice: a pending reversal goes before the next financial request."""
    owed = FakeJournal(pending=[record(state=TxnState.REVERSAL_PENDING)])
    report = RoundReport(still_pending=2, last_code="NET.READ_TIMEOUT")
    ctx = context()
    step = ClearReversals(journal=owed, reversals=FakeReversals(report=report))
    assert await step.prepare(ctx) is ABORTED
    assert (ctx.failure, ctx.code) == (Failure.BACKLOG, "RECON.REVERSAL_PENDING")
    assert ctx.notes == ["2 reversal(s) unacknowledged: NET.READ_TIMEOUT"]


# -- Complete --------------------------------------------------------------------------------


async def test_an_approved_sale_is_recorded_printed_then_completed() -> None:
    """Write APPROVED (reversal reason 96 from then on), complete on the terminal, then write
    COMPLETED: a crash in between leaves a reversal 96 to send."""
    journal, printer = FakeJournal(record()), FakePrinter()
    ctx = context(record())
    ctx.rc, ctx.host, ctx.answer = "00", HOST, answer("00")
    step = Complete(journal=journal, complete=printer)
    assert await step.prepare(ctx) is PREPARED
    args = {"rc": "00", "rrn": "123456789012", "auth_code": "AB1234", "host": HOST, "amount": None}
    assert journal.calls == [("mark_approved", 1, args)]
    assert [r.state for r in printer.completed] == [TxnState.APPROVED]
    await step.commit(ctx)
    assert journal.calls[1:] == [("mark_completed", 1, {})]
    assert ctx.outcome is Outcome.APPROVED
    assert recorded(ctx).state is TxnState.COMPLETED


async def test_a_partial_approval_is_recorded_for_the_amount_approved() -> None:
    journal = FakeJournal(record())
    ctx = context(record())
    ctx.rc, ctx.host, ctx.answer, ctx.approved_amount = "10", HOST, answer("10"), 600
    await Complete(journal=journal, complete=FakePrinter()).prepare(ctx)
    assert journal.calls[0][2]["amount"] == 600
    assert journal.calls[0][2]["rc"] == "10"
    assert recorded(ctx).amount == 600


async def test_missing_answer_fields_are_recorded_as_absent() -> None:
    journal = FakeJournal(record())
    ctx = context(record())
    ctx.answer = {"t": "0210", "39": "00", "37": b"1234"}  # no 38, a 37 that is not text
    await Complete(journal=journal, complete=FakePrinter()).prepare(ctx)
    args = {"rc": "00", "rrn": None, "auth_code": None, "host": "", "amount": None}
    assert journal.calls == [("mark_approved", 1, args)]


async def test_a_receipt_that_cannot_print_means_not_completed() -> None:
    """UnionPay practice: approved but not completed on the terminal is reversed (96)."""
    journal = FakeJournal(record())
    ctx = context(record())
    ctx.rc, ctx.answer = "00", answer("00")
    step = Complete(journal=journal, complete=FakePrinter(fails=OSError("paper out")))
    assert await step.prepare(ctx) is ABORTED
    assert (ctx.failure, ctx.code) == (Failure.NOT_COMPLETED, "SW.CRASH")
    assert ctx.notes == ["could not complete on the terminal: OSError: paper out"]
    assert [c[0] for c in journal.calls] == ["mark_approved"]  # never marked completed


async def test_an_inquiry_is_complete_once_answered_and_prints_nothing() -> None:
    inquiry = record(kind=Kind.BALANCE, reversal_reason=None)
    journal, printer = FakeJournal(inquiry), FakePrinter()
    ctx = context(inquiry, kind=Kind.BALANCE, amount=0)
    ctx.rc, ctx.answer = "00", answer("00")
    step = Complete(journal=journal, complete=printer)
    assert await step.prepare(ctx) is PREPARED
    await step.commit(ctx)
    assert [c[0] for c in journal.calls] == ["mark_approved"]
    assert printer.completed == []
    assert ctx.outcome is Outcome.APPROVED
