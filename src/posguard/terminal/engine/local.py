"""Local checks before anything is written or sent: card number, expiry, amount, original."""

from __future__ import annotations

from posguard.card import check_card
from posguard.common.errors import CardError
from posguard.terminal.engine.context import Context, Failure
from posguard.terminal.engine.flow import ABORTED, PREPARED, Step, Verdict
from posguard.terminal.engine.ports import Today
from posguard.terminal.journal.records import Kind, TxnState

MAX_AMOUNT = 999_999_999_999
# Field 22 digits 1-2 (how the card was read); digit 3 (PIN or not) is the terminal's.
_ENTRY_MODES = frozenset({"02", "05", "07", "01", "80"})  # 80: chip read failed, swiped


class CheckLocal(Step):
    def __init__(self, *, today: Today) -> None:
        self.today = today

    async def prepare(self, ctx: Context) -> Verdict:
        i = ctx.input
        try:
            check_card(i.pan, i.expiry, self.today())
        except CardError as exc:
            ctx.fail(Failure.LOCAL, exc.code or "CARD.BAD_FORMAT")
            return ABORTED
        if (
            len(i.entry_mode) != 3
            or i.entry_mode[:2] not in _ENTRY_MODES
            or i.entry_mode[2] not in "012"
        ):
            ctx.fail(Failure.LOCAL, "TXN.INVALID_TRANSACTION")
            ctx.notes.append(
                f"entry mode {i.entry_mode!r}: digits 1-2 must be one of {sorted(_ENTRY_MODES)}, "
                "digit 3 one of 0/1/2"
            )
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
            if i.kind.cancels_original and i.amount != o.amount:
                ctx.fail(Failure.LOCAL, "TXN.INVALID_AMOUNT")
                return ABORTED
        return PREPARED
