"""Settlement: journal totals in an 0500; on 95, batch upload (0320 per transaction, then
0320 with 60.3 = 207); the batch number advances only after a balanced settlement."""

from __future__ import annotations

from dataclasses import dataclass

from posguard.common.events import EventKind
from posguard.iso8583.codec import Message
from posguard.iso8583.response_codes import lookup
from posguard.terminal.engine import messages
from posguard.terminal.engine.session import HostSession, Reply, Status
from posguard.terminal.journal.records import Totals
from posguard.terminal.reversal import ReversalSender
from posguard.terminal.saf import AdviceForwarder


@dataclass(frozen=True, slots=True)
class SettlementResult:
    balanced: bool
    batch: str
    next_batch: str
    totals: Totals
    rc: str | None = None
    code: str | None = None
    uploaded: int = 0


async def _send(session: HostSession, msg: Message) -> Reply:
    """One exchange; when the host asks for a new sign-on (A0, 77, 99), sign on and resend
    once (settlement messages are idempotent on the host)."""
    reply = await session.exchange(msg)
    stale = reply.status is Status.OK and lookup(reply.rc or "00").needs_sign_on
    if stale and await session.ensure_signed_on() is None:
        reply = await session.exchange(msg)
    return reply


async def settle(
    session: HostSession, reversals: ReversalSender, advices: AdviceForwarder
) -> SettlementResult:
    j, cfg = session.journal, session.cfg
    batch = j.current_batch()
    totals = j.totals(batch)

    def result(code: str | None, rc: str | None = None, uploaded: int = 0) -> SettlementResult:
        return SettlementResult(False, batch, batch, totals, rc, code, uploaded)

    failed = await session.ensure_signed_on()
    if failed is not None:
        return result(failed.code, failed.rc)
    if (await reversals.run(only_due=False)).still_pending:
        return result("RECON.REVERSAL_PENDING")
    if (await advices.run(only_due=False)).still_queued:
        return result("RECON.REVERSAL_PENDING")
    totals = j.totals(batch)
    reply = await _send(session, messages.settlement(cfg, j.next_stan(), batch, totals))
    if reply.status is not Status.OK:
        return result(reply.code, reply.rc)
    uploaded = 0
    if reply.rc == "95":
        j.record_settlement(batch, totals, "95", close=False)
        session.emit(EventKind.FAULT, "RECON.TOTALS_MISMATCH", batch=batch, stage="settlement")
        for rec in j.records(batch=batch):
            if not rec.counts_as_charge or rec.voided:
                continue
            pan, expiry = j.card(rec)
            up = await _send(session, messages.batch_upload(cfg, rec, pan, expiry))
            if up.status is not Status.OK or up.rc != "00":
                return result(up.code or "RECON.TOTALS_MISMATCH", up.rc, uploaded)
            uploaded += 1
        reply = await _send(session, messages.batch_upload_end(cfg, j.next_stan(), batch, uploaded))
        if reply.status is not Status.OK:
            return result(reply.code, reply.rc, uploaded)
    if reply.rc != "00":
        j.record_settlement(batch, totals, reply.rc or "", close=False)
        return result(reply.code or "RECON.TOTALS_MISMATCH", reply.rc, uploaded)
    next_batch = j.record_settlement(batch, totals, "00", close=True)
    if uploaded:
        session.emit(EventKind.FAULT_CLEARED, "RECON.TOTALS_MISMATCH", batch=batch)
    return SettlementResult(True, batch, next_batch, totals, "00", None, uploaded)
