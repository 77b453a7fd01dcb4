"""``WriteAhead`` on its own, over an in-memory journal and a fake reversal sender (no
sockets, no SQLite): the record written before the request leaves, and resolved on abort by
why the flow failed (declined, not sent, or a reversal with its reason)."""

from __future__ import annotations

import pytest

from posguard.terminal.engine.context import Failure
from posguard.terminal.engine.flow import PREPARED
from posguard.terminal.engine.writeahead import WriteAhead
from posguard.terminal.journal.records import Kind, TxnState
from posguard.terminal.journal.store import Draft
from posguard.terminal.result import Outcome
from posguard.terminal.testing import LAB_EXPIRY

from .engine_fakes import (
    HOST,
    PAN,
    FakeJournal,
    FakeReversals,
    context,
    record,
    recorded,
)


def write_ahead(journal: FakeJournal, reversals: FakeReversals | None = None) -> WriteAhead:
    return WriteAhead(journal=journal, reversals=reversals or FakeReversals(), currency="344")


async def test_the_record_is_written_before_the_request_leaves() -> None:
    journal = FakeJournal()
    orig = record(id=7, state=TxnState.COMPLETED)
    ctx = context(kind=Kind.VOID, orig=orig, entry_mode="021", pin_block=b"\x01" * 8)
    ctx.input.training = True
    assert await write_ahead(journal).prepare(ctx) is PREPARED
    assert journal.drafts == [
        Draft(
            kind=Kind.VOID,
            amount=1000,
            pan=PAN,
            expiry=LAB_EXPIRY,
            entry_mode="022",  # a follow-up carries no PIN, whatever the PIN pad gave
            currency="344",
            orig=orig,
            training=True,
        )
    ]
    assert ctx.record is journal.records[1]
    assert ctx.record.state is TxnState.SENDING
    assert ctx.record.reversal_reason == "98"


async def test_a_pin_entered_is_said_in_field_22() -> None:
    journal = FakeJournal()
    ctx = context(entry_mode="071", pin_block=b"\x01" * 8)
    await write_ahead(journal).prepare(ctx)
    assert journal.drafts[0].entry_mode == "071"


async def test_a_declined_sale_is_resolved_declined_and_never_reversed() -> None:
    journal, reversals = FakeJournal(record()), FakeReversals()
    ctx = context(record())
    ctx.host = HOST
    ctx.fail(Failure.DECLINED, "TXN.INSUFFICIENT_FUNDS", "51")
    await write_ahead(journal, reversals).abort(ctx)
    assert journal.calls == [
        ("mark_declined", 1, {"rc": "51", "code": "TXN.INSUFFICIENT_FUNDS", "host": HOST})
    ]
    assert ctx.outcome is Outcome.DECLINED
    assert recorded(ctx).state is TxnState.DECLINED
    assert reversals.queued_records == reversals.tried == []


@pytest.mark.parametrize(
    "failure", [Failure.NOT_SENT, Failure.BACKLOG, Failure.LOCAL], ids=lambda f: f.value
)
async def test_a_request_that_never_left_is_not_sent_no_charge(failure: Failure) -> None:
    journal, reversals = FakeJournal(record()), FakeReversals()
    ctx = context(record())
    ctx.fail(failure, "NET.CONNECT_REFUSED")
    await write_ahead(journal, reversals).abort(ctx)
    assert journal.calls == [("mark_not_sent", 1, {"code": "NET.CONNECT_REFUSED"})]
    assert ctx.outcome is Outcome.FAILED_NO_CHARGE
    assert reversals.queued_records == []


async def test_an_inquiry_is_never_reversed() -> None:
    """ISO 8583: a balance inquiry (0100/31) moves no money, so nothing to reverse."""
    inquiry = record(kind=Kind.BALANCE, reversal_reason=None)
    journal = FakeJournal(inquiry)
    ctx = context(inquiry, kind=Kind.BALANCE, amount=0)
    ctx.fail(Failure.NO_ANSWER, "NET.READ_TIMEOUT")
    await write_ahead(journal).abort(ctx)
    assert journal.calls == [("mark_not_sent", 1, {"code": "NET.READ_TIMEOUT"})]
    assert ctx.outcome is Outcome.FAILED_NO_CHARGE


async def test_no_answer_queues_reversal_98_and_answers_the_operator_first() -> None:
    """UnionPay practice: reversal reason 98 (no answer in time); the operator has waited the
    read timeout already, so the reversal is sent in the background."""
    journal = FakeJournal(record())
    reversals = FakeReversals(journal=journal)
    ctx = context(record())
    ctx.host = HOST
    ctx.fail(Failure.NO_ANSWER, "NET.READ_TIMEOUT")
    await write_ahead(journal, reversals).abort(ctx)
    args = {"reason": "98", "code": "NET.READ_TIMEOUT", "rc": None, "host": HOST, "amount": None}
    assert journal.calls == [("mark_reversal_due", 1, args)]
    assert reversals.queued_records == [journal.records[1]]
    assert reversals.tried == []
    assert ctx.reverse_in_background is True
    assert ctx.outcome is Outcome.PENDING_REVERSAL


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (Failure.BAD_MAC, "A0"),
        (Failure.BAD_ANSWER, "06"),
        (Failure.NOT_COMPLETED, "96"),
        (None, "06"),  # a flow that aborted without saying why: treated as a bad answer
    ],
)
async def test_a_host_that_just_answered_gets_the_reversal_at_once(
    failure: Failure | None, reason: str
) -> None:
    """UnionPay practice for the reversal reason (field 39 of the 0400): A0 the answer's MAC
    failed, 06 an unusable answer, 96 approved but not completed on the terminal."""
    journal = FakeJournal(record())
    reversals = FakeReversals(journal=journal)
    ctx = context(record())
    ctx.failure, ctx.code, ctx.rc, ctx.host = failure, "X.CODE", "00", HOST
    ctx.approved_amount = 600
    await write_ahead(journal, reversals).abort(ctx)
    args = {"reason": reason, "code": "X.CODE", "rc": "00", "host": HOST, "amount": 600}
    assert journal.calls == [("mark_reversal_due", 1, args)]
    assert [r.id for r in reversals.queued_records] == [r.id for r in reversals.tried] == [1]
    assert ctx.reverse_in_background is False
    assert ctx.outcome is Outcome.REVERSED
    assert recorded(ctx).state is TxnState.REVERSED  # read back after the try


async def test_an_unanswered_reversal_stays_pending() -> None:
    journal = FakeJournal(record())
    ctx = context(record())
    ctx.fail(Failure.BAD_MAC, "TXN.MAC_ERROR")
    await write_ahead(journal, FakeReversals(closed=False, journal=journal)).abort(ctx)
    assert ctx.outcome is Outcome.PENDING_REVERSAL
    assert recorded(ctx).state is TxnState.REVERSAL_PENDING
    assert ctx.reverse_in_background is False
