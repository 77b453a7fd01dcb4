"""The transaction flow (``engine/flow.py: run``) on its own, with participants that only log
what they were asked: the order of prepare, commit and abort, and what ``run`` returns.

The rule is jPOS's TransactionManager: prepare in order; on the first ABORTED, abort the
participants already prepared in reverse order (the one that aborted and those after it are
not called again); when all prepared, commit each in order."""

from __future__ import annotations

import pytest

from posguard.terminal.engine import flow
from posguard.terminal.engine.context import Context

from .engine_fakes import context


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
