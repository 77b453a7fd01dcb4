"""The transaction flow (``engine/flow.py: run``) on its own, with participants that only log
what they were asked: the order of prepare, commit and abort, and what ``run`` returns.

The rule is jPOS's TransactionManager: prepare in order; on the first ABORTED, abort the
participants already prepared in reverse order (the one that aborted and those after it are
not called again); when all prepared, commit each in order. The last tests run the real
participants of a sale over in-memory fakes, for the order of journal writes and sign-ons."""

from __future__ import annotations

from datetime import date

import pytest

from posguard.terminal.engine import flow
from posguard.terminal.engine.backlog import ClearReversals, SignedOn
from posguard.terminal.engine.complete import Complete
from posguard.terminal.engine.context import Context
from posguard.terminal.engine.exchange import Exchange
from posguard.terminal.engine.local import CheckLocal
from posguard.terminal.engine.session import Reply, Status
from posguard.terminal.engine.writeahead import WriteAhead
from posguard.terminal.result import Outcome

from .engine_fakes import (
    FakeJournal,
    FakePrinter,
    FakeReversals,
    FakeSession,
    config,
    context,
    ok,
)


class Logged(flow.Step):
    """A participant that says ``verdict`` and logs each call as (name, phase)."""

    def __init__(self, name: str, log: list[tuple[str, str]], verdict: flow.Verdict) -> None:
        self.name, self.log, self.verdict = name, log, verdict

    async def prepare(self, ctx: Context) -> flow.Verdict:
        self.log.append((self.name, "prepare"))
        ctx.notes.append(self.name)  # each sees the one context the others wrote to
        return self.verdict

    async def commit(self, ctx: Context) -> None:
        self.log.append((self.name, "commit"))

    async def abort(self, ctx: Context) -> None:
        self.log.append((self.name, "abort"))


def steps(verdicts: str, log: list[tuple[str, str]]) -> list[flow.Participant]:
    """One participant per letter: ``p`` prepares, ``a`` aborts; named s0, s1, ..."""
    return [
        Logged(f"s{i}", log, flow.PREPARED if v == "p" else flow.ABORTED)
        for i, v in enumerate(verdicts)
    ]


async def test_all_prepared_then_all_committed_in_order() -> None:
    log: list[tuple[str, str]] = []
    ctx = context()
    assert await flow.run(steps("ppp", log), ctx) is True
    assert log == [
        ("s0", "prepare"),
        ("s1", "prepare"),
        ("s2", "prepare"),
        ("s0", "commit"),
        ("s1", "commit"),
        ("s2", "commit"),
    ]
    assert ctx.notes == ["s0", "s1", "s2"]


async def test_first_abort_aborts_the_prepared_ones_in_reverse_and_stops() -> None:
    log: list[tuple[str, str]] = []
    ctx = context()
    assert await flow.run(steps("pppap", log), ctx) is False
    assert log == [
        ("s0", "prepare"),
        ("s1", "prepare"),
        ("s2", "prepare"),
        ("s3", "prepare"),
        ("s2", "abort"),
        ("s1", "abort"),
        ("s0", "abort"),
    ]
    assert ctx.notes == ["s0", "s1", "s2", "s3"]  # s4 was never prepared


async def test_an_abort_at_the_first_step_calls_nobody_back() -> None:
    log: list[tuple[str, str]] = []
    assert await flow.run(steps("ap", log), context()) is False
    assert log == [("s0", "prepare")]


async def test_an_empty_flow_succeeds() -> None:
    assert await flow.run([], context()) is True


async def test_a_step_does_nothing_on_commit_and_abort_unless_it_says_so() -> None:
    step, ctx = flow.Step(), context()
    await step.commit(ctx)
    await step.abort(ctx)
    assert ctx == context()
    with pytest.raises(NotImplementedError):
        await step.prepare(ctx)


# -- the financial flow, assembled from the real participants over fakes ---------------------


class LoggedSession(FakeSession):
    """A session whose sign-ons are logged in the journal's call list, to see their order."""

    def __init__(self, journal: FakeJournal, *replies: Reply) -> None:
        super().__init__(*replies)
        self.journal = journal

    async def ensure_signed_on(self) -> Reply | None:
        self.journal.calls.append(("sign_on", 0, {}))
        return await super().ensure_signed_on()


def financial(journal: FakeJournal, session: FakeSession) -> list[flow.Participant]:
    """CheckLocal → SignedOn → ClearReversals → WriteAhead → Exchange → Complete, as the
    runtime assembles a sale (docs/architecture.md)."""
    reversals = FakeReversals(journal=journal)
    return [
        CheckLocal(today=lambda: date(2026, 12, 2)),
        SignedOn(session=session),
        ClearReversals(journal=journal, reversals=reversals),
        WriteAhead(journal=journal, reversals=reversals, currency="156"),
        Exchange(cfg=config(), session=session),
        Complete(journal=journal, complete=FakePrinter()),
    ]


async def test_an_approved_sale_is_written_sent_approved_then_completed() -> None:
    journal = FakeJournal()
    session = LoggedSession(journal, ok("00"))
    ctx = context()
    assert await flow.run(financial(journal, session), ctx) is True
    assert [c[0] for c in journal.calls] == ["sign_on", "begin", "mark_approved", "mark_completed"]
    assert ctx.outcome is Outcome.APPROVED


async def test_a_stale_session_decline_is_resolved_before_signing_on_again() -> None:
    """UnionPay practice: A0 in field 39 is a decline; the terminal signs on again at once,
    after the record is resolved, so the batch the host assigns can be taken."""
    journal = FakeJournal()
    session = LoggedSession(journal, ok("A0"))
    ctx = context()
    assert await flow.run(financial(journal, session), ctx) is False
    assert [c[0] for c in journal.calls] == ["sign_on", "begin", "mark_declined", "sign_on"]
    assert ctx.outcome is Outcome.DECLINED


async def test_a_sale_left_unanswered_is_reversed_98_in_the_background() -> None:
    journal = FakeJournal()
    session = LoggedSession(journal, Reply(Status.NO_ANSWER, None, "primary", "NET.READ_TIMEOUT"))
    ctx = context()
    assert await flow.run(financial(journal, session), ctx) is False
    assert [c[0] for c in journal.calls] == ["sign_on", "begin", "mark_reversal_due"]
    assert journal.calls[-1][2]["reason"] == "98"
    assert (ctx.outcome, ctx.reverse_in_background) == (Outcome.PENDING_REVERSAL, True)
