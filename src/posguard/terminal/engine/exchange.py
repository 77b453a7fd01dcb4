"""Build the request from the journal record, send it, and read the answer's verdict.

UnionPay practice for field 39 of the answer:

- approved class (``00``, ``11``; ``10`` partial; ``A2``/``A4``/``A5``/``A6`` "defective
  success"): the transaction goes on to completion. A defective success is completed and
  printed like any approval, with a note telling the operator to confirm with the issuer.
  A partial approval is for the amount in field 4; when the configuration does not accept
  partial approvals it is reversed (reason 96), never silently dropped.
- a training transaction (training mode) approved without the training mark echoed in field 63
  was booked as live by a host that does not know training: it is reversed (reason 96,
  ``CFG.TRAINING_NOT_SUPPORTED``).
- any other code is the host's decision: declined, nothing charged, no reversal (this
  includes ``96``, ``98`` and ``A0`` received in field 39). ``77``, ``99`` and ``A0`` also
  drop the working keys, and the terminal signs on again at once so the operator can retry.
"""

from __future__ import annotations

from posguard.iso8583.response_codes import lookup
from posguard.iso8583.training import answered_as_training
from posguard.terminal.config import TerminalConfig
from posguard.terminal.engine import messages
from posguard.terminal.engine.context import Context, Failure
from posguard.terminal.engine.flow import ABORTED, PREPARED, Step, Verdict
from posguard.terminal.engine.ports import HostExchange
from posguard.terminal.engine.session import Status

_FAILURE = {
    Status.NOT_SENT: Failure.NOT_SENT,
    Status.NO_ANSWER: Failure.NO_ANSWER,
    Status.BAD_ANSWER: Failure.BAD_ANSWER,
    Status.BAD_MAC: Failure.BAD_MAC,
}

CONFIRM_WITH_ISSUER = "defective success: confirm with the issuer (请向发卡行确认)"
TRAINING_NOT_HONOURED = "CFG.TRAINING_NOT_SUPPORTED"


class Exchange(Step):
    def __init__(self, *, cfg: TerminalConfig, session: HostExchange) -> None:
        self.cfg = cfg  # builds the request; says whether a partial approval is accepted
        self.session = session

    async def prepare(self, ctx: Context) -> Verdict:
        rec, i, session = ctx.record, ctx.input, self.session
        assert rec is not None
        pin_block = i.pin_block if i.has_pin else None
        ctx.request = messages.financial(self.cfg, rec, i.pan, i.expiry, pin_block)
        reply = await session.exchange(ctx.request)
        ctx.host = reply.host
        ctx.answer = reply.answer
        if reply.status is not Status.OK:
            ctx.fail(_FAILURE[reply.status], reply.code, reply.rc)
            if reply.status is Status.BAD_MAC:
                await session.ensure_signed_on()  # the reversal (queued on abort) needs new keys
            return ABORTED
        rc = reply.rc or ""
        ctx.rc = rc
        meaning = lookup(rc)
        answer = reply.answer or {}
        if meaning.approved and rec.training and not answered_as_training(answer):
            # the host did not say it practised: it may have booked the sale; undo it (96)
            ctx.fail(Failure.NOT_COMPLETED, TRAINING_NOT_HONOURED, rc)
            ctx.notes.append("training transaction approved as live by the host: reversed")
            return ABORTED
        if meaning.approved:
            ctx.code = meaning.catalog_code
            if meaning.defective:
                ctx.notes.append(CONFIRM_WITH_ISSUER)
            if meaning.partial:
                return self._partial(ctx, answer.get("4"))
            balance = answer.get("54")
            if isinstance(balance, str) and len(balance) >= 20 and balance[-12:].isdigit():
                sign = -1 if balance[-13] == "D" else 1
                ctx.balance = sign * int(balance[-12:])
            return PREPARED
        ctx.code = reply.code or meaning.catalog_code
        ctx.fail(Failure.DECLINED, ctx.code, rc)
        if meaning.needs_sign_on:
            ctx.sign_on_again = True  # 77 / 99 / A0: SignedOn signs on, the operator retries
        return ABORTED

    def _partial(self, ctx: Context, field4: object) -> Verdict:
        """``10``: the approved amount is field 4 of the answer."""
        rec = ctx.record
        assert rec is not None
        if not (isinstance(field4, str) and field4.isdigit() and 0 < int(field4) <= rec.amount):
            ctx.fail(Failure.NOT_COMPLETED, "TXN.INVALID_AMOUNT", ctx.rc)
            ctx.notes.append(f"partial approval with an unusable field 4 {field4!r}: reversed")
            return ABORTED
        ctx.approved_amount = int(field4)
        if not self.cfg.practice.partial_approval:
            ctx.fail(Failure.NOT_COMPLETED, None, ctx.rc)
            ctx.notes.append(
                f"partial approval of {ctx.approved_amount} not accepted by the configuration: "
                "reversed"
            )
            return ABORTED
        ctx.notes.append(f"partial approval: {ctx.approved_amount} of {rec.amount} approved")
        return PREPARED
