"""Write before send: the journal record (and, for reversible kinds, the reversal record with
reason 98) is committed before the request leaves. On abort it is resolved by why the flow
failed: not sent, declined, or reversal due.

A reversal due because no answer came in time is *not* tried here: the operator has already
waited the read timeout, so the flow answers now (PENDING_REVERSAL) and the runtime sends the
reversal right after, in the background (it is already persisted). The other reasons (bad
MAC, bad answer, not completed) come with a host that just answered, so the reversal is tried
at once and the operator sees its outcome."""

from __future__ import annotations

from posguard.terminal.engine.context import REVERSAL_REASON, Context, Failure
from posguard.terminal.engine.flow import PREPARED, Step, Verdict
from posguard.terminal.engine.messages import entry_mode
from posguard.terminal.engine.ports import DueReversal, WriteAheadJournal
from posguard.terminal.journal.store import Draft
from posguard.terminal.result import Outcome


class WriteAhead(Step):
    def __init__(
        self, *, journal: WriteAheadJournal, reversals: DueReversal, currency: str
    ) -> None:
        self.journal = journal
        self.reversals = reversals
        self.currency = currency  # ISO 4217 numeric, field 49

    async def prepare(self, ctx: Context) -> Verdict:
        i = ctx.input
        ctx.record = self.journal.begin(
            Draft(
                kind=i.kind,
                amount=i.amount,
                pan=i.pan,
                expiry=i.expiry,
                entry_mode=entry_mode(i.entry_mode, pin=i.has_pin),
                currency=self.currency,
                orig=i.orig,
                training=i.training,
            )
        )
        return PREPARED

    async def abort(self, ctx: Context) -> None:
        rec = ctx.record
        assert rec is not None
        j = self.journal
        failure = ctx.failure or Failure.BAD_ANSWER
        if failure is Failure.DECLINED:
            ctx.record = j.mark_declined(rec.id, rc=ctx.rc or "", code=ctx.code, host=ctx.host)
            ctx.outcome = Outcome.DECLINED
            return
        reason = REVERSAL_REASON.get(failure)
        if reason is None or not rec.kind.reversible:
            ctx.record = j.mark_not_sent(rec.id, code=ctx.code)
            ctx.outcome = Outcome.FAILED_NO_CHARGE
            return
        ctx.record = j.mark_reversal_due(
            rec.id,
            reason=reason,
            code=ctx.code,
            rc=ctx.rc,
            host=ctx.host,
            amount=ctx.approved_amount,
        )
        self.reversals.queued(ctx.record)
        if failure is Failure.NO_ANSWER:
            ctx.reverse_in_background = True
            ctx.outcome = Outcome.PENDING_REVERSAL
            return
        ok, _code = await self.reversals.send_one(ctx.record)
        ctx.record = j.get(rec.id)
        ctx.outcome = Outcome.REVERSED if ok else Outcome.PENDING_REVERSAL
