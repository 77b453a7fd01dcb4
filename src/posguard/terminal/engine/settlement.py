"""Settlement: journal totals in an 0500; the 0510's field 48 flag (对账应答代码: 1 balanced,
2 out of balance, 3 error) decides. Out of balance: batch upload (0320 per transaction, then
0320 with 60.3 = 202), and the batch is closed when the upload ends. The batch number advances
only when the batch is closed. ``practice.settle_rc95_out_of_balance`` is the variant for
hosts that say "out of balance" with rc 95 and no field-48 flag."""

from __future__ import annotations

from dataclasses import dataclass

from posguard.common.errors import MessageError
from posguard.common.events import EventKind
from posguard.iso8583.codec import Message
from posguard.iso8583.fields import (
    MAX_UPLOAD_ENTRIES,
    SettlementFlag,
    UploadEntry,
    parse_settlement_totals,
)
from posguard.iso8583.response_codes import lookup
from posguard.terminal.config import TerminalConfig
from posguard.terminal.engine import messages
from posguard.terminal.engine.ports import (
    AdviceRunner,
    HostExchange,
    ReversalRunner,
    SettlementHost,
    SettlementJournal,
)
from posguard.terminal.engine.session import Reply, Status
from posguard.terminal.journal.records import Kind, Record, Totals


@dataclass(frozen=True, slots=True)
class SettlementResult:
    balanced: bool
    batch: str
    next_batch: str
    totals: Totals
    rc: str | None = None
    code: str | None = None
    uploaded: int = 0


async def _send(session: HostExchange, msg: Message) -> Reply:
    """One exchange; when the host asks for a new sign-on (A0, 77, 99), sign on and resend
    once (settlement messages are idempotent on the host)."""
    reply = await session.exchange(msg)
    stale = reply.status is Status.OK and lookup(reply.rc or "00").needs_sign_on
    if stale and await session.ensure_signed_on() is None:
        reply = await session.exchange(msg)
    return reply


_ORG = {"unionpay": "00", "visa": "01", "mastercard": "02", "jcb": "04", "amex": "06"}


def packs_in_field48(rec: Record) -> bool:
    """A magnetic-stripe (swiped or keyed) sale or completion: uploaded 8 to a 0320 in field
    48. Chip and contactless ones, and refunds, go one per 0320 with their own fields."""
    return rec.entry_mode[:2] in ("02", "01") and rec.kind in (Kind.SALE, Kind.COMPLETION)


def _entry(rec: Record, pan: str) -> UploadEntry:
    return UploadEntry(_ORG.get(rec.brand, "99"), rec.stan, pan, rec.amount)


def balance_verdict(answer: Message | None, *, rc95_variant: bool) -> str:
    """The settlement flag an authentic 0510 (or end-of-upload 0330) says: ``1`` balanced,
    ``2`` out of balance, ``3`` error (anything unreadable, or a refusal).

    >>> balance_verdict({"39": "00", "48": "0" * 30 + "2"}, rc95_variant=False)
    '2'
    >>> rc95 = {"39": "95"}
    >>> balance_verdict(rc95, rc95_variant=False), balance_verdict(rc95, rc95_variant=True)
    ('3', '2')
    """
    answer = answer or {}
    rc = answer.get("39")
    f48 = answer.get("48")
    if rc not in ("00", "95"):
        return SettlementFlag.ERROR
    if isinstance(f48, str) and len(f48) == 31:
        try:
            _totals, flag = parse_settlement_totals(f48)
        except MessageError:
            return SettlementFlag.ERROR
        if flag in (SettlementFlag.BALANCED, SettlementFlag.OUT_OF_BALANCE):
            return flag
        return SettlementFlag.ERROR
    if rc == "00":
        return SettlementFlag.BALANCED
    return SettlementFlag.OUT_OF_BALANCE if rc95_variant else SettlementFlag.ERROR


async def settle(
    *,
    cfg: TerminalConfig,
    session: SettlementHost,
    journal: SettlementJournal,
    reversals: ReversalRunner,
    advices: AdviceRunner,
) -> SettlementResult:
    j = journal
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
    verdict = balance_verdict(reply.answer, rc95_variant=cfg.practice.settle_rc95_out_of_balance)
    if verdict == SettlementFlag.ERROR:
        j.record_settlement(batch, totals, reply.rc or "", close=False)
        code = reply.code if reply.rc != "00" else None
        return result(code or "RECON.SETTLEMENT_FAILED", reply.rc)
    if verdict == SettlementFlag.BALANCED:
        next_batch = j.record_settlement(batch, totals, "00", close=True)
        return SettlementResult(True, batch, next_batch, totals, reply.rc, None, 0)
    # Out of balance: upload the batch, end with 60.3 = 202, then the batch is closed.
    j.record_settlement(batch, totals, "out_of_balance", close=False)
    session.emit(EventKind.FAULT, "RECON.TOTALS_MISMATCH", batch=batch, stage="settlement")
    uploaded = 0
    owed = [r for r in j.records(batch=batch) if r.counts_as_charge and not r.voided]
    swiped = [r for r in owed if packs_in_field48(r)]
    for i in range(0, len(swiped), MAX_UPLOAD_ENTRIES):
        group = swiped[i : i + MAX_UPLOAD_ENTRIES]
        entries = [_entry(r, j.card(r)[0]) for r in group]
        msg = messages.batch_upload_swiped(cfg, j.next_stan(), batch, entries)
        up = await _send(session, msg)
        if up.status is not Status.OK or up.rc != "00":
            return result(up.code or "RECON.TOTALS_MISMATCH", up.rc, uploaded)
        uploaded += len(group)
    for rec in owed:
        if packs_in_field48(rec):
            continue
        pan, expiry = j.card(rec)
        up = await _send(session, messages.batch_upload(cfg, rec, pan, expiry))
        if up.status is not Status.OK or up.rc != "00":
            return result(up.code or "RECON.TOTALS_MISMATCH", up.rc, uploaded)
        uploaded += 1
    reply = await _send(session, messages.batch_upload_end(cfg, j.next_stan(), batch, uploaded))
    if reply.status is not Status.OK:
        return result(reply.code, reply.rc, uploaded)
    after = balance_verdict(reply.answer, rc95_variant=cfg.practice.settle_rc95_out_of_balance)
    balanced = after == SettlementFlag.BALANCED
    next_batch = j.record_settlement(
        batch, totals, "00" if balanced else f"uploaded:{reply.rc or ''}", close=True
    )
    if balanced:
        session.emit(EventKind.FAULT_CLEARED, "RECON.TOTALS_MISMATCH", batch=batch)
    code = None if balanced else "RECON.TOTALS_MISMATCH"
    return SettlementResult(balanced, batch, next_batch, totals, reply.rc, code, uploaded)
