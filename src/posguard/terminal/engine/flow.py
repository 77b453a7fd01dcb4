"""A transaction as a flow of small participants, in the manner of jPOS's TransactionManager.

Each participant's ``prepare`` does its step and says PREPARED or ABORTED. On the first
ABORTED, the participants already prepared get ``abort`` in reverse order (the journal step
resolves its record there: not sent, declined, or reversal due); when all prepared, each gets
``commit`` in order. A new behaviour is a new participant, not an edit to a big method.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Protocol

from posguard.terminal.engine.context import Context


class Verdict(Enum):
    PREPARED = "prepared"
    ABORTED = "aborted"


PREPARED = Verdict.PREPARED
ABORTED = Verdict.ABORTED


class Participant(Protocol):
    async def prepare(self, ctx: Context) -> Verdict: ...

    async def commit(self, ctx: Context) -> None: ...

    async def abort(self, ctx: Context) -> None: ...


class Step:
    """A participant with nothing to do on commit or abort unless it says so."""

    async def prepare(self, ctx: Context) -> Verdict:
        raise NotImplementedError

    async def commit(self, ctx: Context) -> None:
        return None

    async def abort(self, ctx: Context) -> None:
        return None


async def run(participants: Sequence[Participant], ctx: Context) -> bool:
    """Run the flow; True when every participant prepared (and was committed)."""
    prepared: list[Participant] = []
    for p in participants:
        if await p.prepare(ctx) is ABORTED:
            for q in reversed(prepared):
                await q.abort(ctx)
            return False
        prepared.append(p)
    for p in prepared:
        await p.commit(ctx)
    return True
