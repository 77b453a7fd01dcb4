"""Approved: record it (reversal reason now 96), finish on the terminal, then mark completed.

A crash between the two writes leaves an APPROVED record, which recovery turns into a
reversal with reason 96 ("approved but not completed on the terminal")."""

from __future__ import annotations

from posguard.terminal.engine.context import Context, Failure
from posguard.terminal.engine.flow import ABORTED, PREPARED, Step, Verdict
from posguard.terminal.engine.ports import Completer, CompletionJournal
from posguard.terminal.result import Outcome


class Complete(Step):
    def __init__(self, *, journal: CompletionJournal, complete: Completer) -> None:
        self.journal = journal
        self.complete = complete

    async def prepare(self, ctx: Context) -> Verdict:
        rec, answer = ctx.record, ctx.answer or {}
        assert rec is not None
        rrn, auth = answer.get("37"), answer.get("38")
        ctx.record = self.journal.mark_approved(
            rec.id,
            rc=ctx.rc or "00",
            rrn=rrn if isinstance(rrn, str) else None,
            auth_code=auth if isinstance(auth, str) else None,
            host=ctx.host or "",
            amount=ctx.approved_amount,
        )
        if not ctx.record.kind.reversible:
            return PREPARED  # an inquiry is complete once answered
        try:
            self.complete(ctx.record)
        except Exception as exc:
            ctx.fail(Failure.NOT_COMPLETED, "SW.CRASH")
            ctx.notes.append(f"could not complete on the terminal: {type(exc).__name__}: {exc}")
            return ABORTED
        return PREPARED

    async def commit(self, ctx: Context) -> None:
        rec = ctx.record
        assert rec is not None
        if rec.kind.reversible:
            ctx.record = self.journal.mark_completed(rec.id)
        ctx.outcome = Outcome.APPROVED
