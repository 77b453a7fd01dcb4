"""Before a financial request: keys in hand, and no reversal left unacknowledged."""

from __future__ import annotations

from posguard.terminal.engine.context import Context, Failure
from posguard.terminal.engine.flow import ABORTED, PREPARED, Step, Verdict
from posguard.terminal.engine.ports import ReversalBacklog, ReversalRunner, SignOn


class SignedOn(Step):
    """Sign on (key exchange) when the session has no working keys; again when the host
    answered that the session or batch is stale (77 / 99 / A0)."""

    def __init__(self, *, session: SignOn) -> None:
        self.session = session

    async def prepare(self, ctx: Context) -> Verdict:
        failed = await self.session.ensure_signed_on()
        if failed is None:
            return PREPARED
        ctx.fail(Failure.NOT_SENT, failed.code or "CFG.NOT_SIGNED_ON", failed.rc)
        return ABORTED

    async def abort(self, ctx: Context) -> None:
        """The host answered 77 / 99 / A0: sign on again at once. This step comes before the
        journal's, so its abort runs after the record is resolved as declined, and the 0810's
        batch is taken when the current batch holds nothing else."""
        if ctx.sign_on_again:
            await self.session.ensure_signed_on()


class ClearReversals(Step):
    """Pending reversals go first; a new sale waits until the host has acknowledged them."""

    def __init__(self, *, journal: ReversalBacklog, reversals: ReversalRunner) -> None:
        self.journal = journal
        self.reversals = reversals

    async def prepare(self, ctx: Context) -> Verdict:
        if not self.journal.pending_reversals():
            return PREPARED
        report = await self.reversals.run(only_due=False)
        if report.still_pending == 0:
            return PREPARED
        ctx.fail(Failure.BACKLOG, "RECON.REVERSAL_PENDING")
        ctx.notes.append(f"{report.still_pending} reversal(s) unacknowledged: {report.last_code}")
        return ABORTED
