"""Build the request from the journal record, send it, and read the answer's verdict."""

from __future__ import annotations

from posguard.iso8583.keys import encrypt_pin_block
from posguard.iso8583.response_codes import lookup
from posguard.terminal.engine import messages
from posguard.terminal.engine.context import Context, Failure
from posguard.terminal.engine.flow import ABORTED, PREPARED, Step, Verdict
from posguard.terminal.engine.services import Services
from posguard.terminal.engine.session import Status

_FAILURE = {
    Status.NOT_SENT: Failure.NOT_SENT,
    Status.NO_ANSWER: Failure.NO_ANSWER,
    Status.BAD_ANSWER: Failure.BAD_ANSWER,
    Status.BAD_MAC: Failure.BAD_MAC,
}


class Exchange(Step):
    def __init__(self, services: Services) -> None:
        self.s = services

    async def prepare(self, ctx: Context) -> Verdict:
        rec, i, session = ctx.record, ctx.input, self.s.session
        assert rec is not None
        pin_block = None
        if i.pin is not None and session.keys is not None:
            pin_block = encrypt_pin_block(session.keys.pin_key, i.pin, i.pan)
        ctx.request = messages.financial(self.s.cfg, rec, i.pan, i.expiry, pin_block)
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
        if rc == "00":
            balance = reply.answer.get("54") if reply.answer else None
            if isinstance(balance, str) and len(balance) >= 20 and balance[-12:].isdigit():
                sign = -1 if balance[-13] == "D" else 1
                ctx.balance = sign * int(balance[-12:])
            return PREPARED
        meaning = lookup(rc)
        ctx.code = reply.code or meaning.catalog_code
        if meaning.reversal_due and rec.kind.reversible:
            ctx.fail(Failure.BAD_ANSWER, ctx.code, rc)
        else:
            ctx.fail(Failure.DECLINED, ctx.code, rc)
        return ABORTED
