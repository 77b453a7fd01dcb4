"""Refund as an advice: queued in the journal first (WriteAhead), then offered to the host at
once; whatever the host's state, the refund is either answered or waits in the queue."""

from __future__ import annotations

from posguard.terminal.engine.context import Context
from posguard.terminal.engine.flow import PREPARED, Step, Verdict
from posguard.terminal.engine.ports import (
    AdviceSender,
    Completer,
    ReversalBacklog,
    ReversalRunner,
)
from posguard.terminal.journal.records import TxnState
from posguard.terminal.result import Outcome


class ForwardAdvice(Step):
    def __init__(
        self,
        *,
        journal: ReversalBacklog,
        reversals: ReversalRunner,
        advices: AdviceSender,
        complete: Completer,
    ) -> None:
        self.journal = journal
        self.reversals = reversals
        self.advices = advices
        self.complete = complete

    async def prepare(self, ctx: Context) -> Verdict:
        assert ctx.record is not None
        if self.journal.pending_reversals():
            await self.reversals.run(only_due=False)  # best effort: the advice waits anyway
        rec, reply = await self.advices.send_one(ctx.record, inline=True)
        ctx.record, ctx.host, ctx.answer = rec, reply.host, reply.answer
        ctx.rc, ctx.code = reply.rc, reply.code
        if rec.state is TxnState.ADVICE_PENDING:
            # Queued (no answer, or a transient one): the operator hears "pending", not a fault.
            if reply.code:
                ctx.notes.append(f"advice queued after {reply.rc or 'no answer'}: {reply.code}")
            ctx.code = None
        elif rec.state is TxnState.DECLINED:
            ctx.code = "TXN.REFUND_DECLINED"
        return PREPARED

    async def commit(self, ctx: Context) -> None:
        rec = ctx.record
        assert rec is not None
        if rec.state is TxnState.DECLINED:
            ctx.outcome = Outcome.DECLINED
            return
        ctx.outcome = Outcome.APPROVED if rec.state is TxnState.COMPLETED else Outcome.STORED
        try:
            self.complete(rec)
        except Exception as exc:
            ctx.notes.append(f"receipt not queued: {type(exc).__name__}: {exc}")
