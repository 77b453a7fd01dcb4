"""Local checks before anything is written or sent: card number, expiry, amount, original."""

from __future__ import annotations

from posguard.card import check_card
from posguard.common.errors import CardError
from posguard.terminal.engine.context import Context, Failure
from posguard.terminal.engine.flow import ABORTED, PREPARED, Step, Verdict
from posguard.terminal.engine.services import Services
from posguard.terminal.journal.records import Kind, TxnState

MAX_AMOUNT = 999_999_999_999
_ENTRY_MODES = frozenset({"021", "051", "071", "012"})


class CheckLocal(Step):
    def __init__(self, services: Services) -> None:
        self.s = services

    async def prepare(self, ctx: Context) -> Verdict:
        i = ctx.input
        try:
            check_card(i.pan, i.expiry, self.s.today())
        except CardError as exc:
            ctx.fail(Failure.LOCAL, exc.code or "CARD.BAD_FORMAT")
            return ABORTED
        if i.entry_mode not in _ENTRY_MODES:
            ctx.fail(Failure.LOCAL, "TXN.INVALID_TRANSACTION")
            ctx.notes.append(f"entry mode {i.entry_mode!r} is not one of {sorted(_ENTRY_MODES)}")
            return ABORTED
        needs_amount = i.kind is not Kind.BALANCE
        if needs_amount and not 0 < i.amount <= MAX_AMOUNT:
            ctx.fail(Failure.LOCAL, "TXN.INVALID_AMOUNT")
            return ABORTED
        o = i.orig
        if o is not None:
            if o.state is not TxnState.COMPLETED or o.voided:
                ctx.fail(Failure.LOCAL, "TXN.ORIGINAL_NOT_FOUND")
                ctx.notes.append(f"original STAN {o.stan} is {o.state.value}, voided={o.voided}")
                return ABORTED
            if i.kind in (Kind.VOID, Kind.PREAUTH_VOID) and i.amount != o.amount:
                ctx.fail(Failure.LOCAL, "TXN.INVALID_AMOUNT")
                return ABORTED
        return PREPARED
