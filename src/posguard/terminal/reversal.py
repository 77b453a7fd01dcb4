"""Reversals: sent from the journal until the host answers them, surviving restarts.

The first try is an 0400, every later one (in this run or after a restart) an 0401. The
attempt is counted in the journal *before* it is sent, so a crash mid-send still makes the
next one a repeat. Tries follow exponential backoff with jitter; a failed try stops the round
(the host is not there), the record stays pending and is sent before the next financial
transaction.

UnionPay practice:

- any authentic 0410 closes the reversal, whatever its field 39 (``00``, ``12``, ``25``, ...:
  the host has decided); the code is recorded. Only ``77``/``99``/``A0`` (the host could not
  read us: not signed on, bad keys, bad MAC) are not an answer to the reversal: the terminal
  signs on again and the try counts as unanswered;
- a try that may have reached the host and got no answer counts; after
  ``practice.reversal_tries`` (冲正重发次数, default 3) the reversal is marked failed, a fault
  slip is printed, ``RECON.REVERSAL_FAILED`` is emitted (the fleet opens an incident), and it
  no longer blocks sales or settlement;
- a reversal of an earlier day is never sent (隔日交易不冲正): it becomes a reconciliation
  item the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from posguard.common.events import EventKind
from posguard.iso8583.response_codes import lookup
from posguard.terminal.engine import messages
from posguard.terminal.engine.session import HostSession, Status
from posguard.terminal.journal.records import Record, TxnState
from posguard.terminal.journal_sender import JournalSender
from posguard.terminal.link.backoff import Backoff

FAILED_CODE = "RECON.REVERSAL_FAILED"

# Called with a reversal given up, to print the fault slip; must not raise for long.
OnFailed = Callable[[Record, str], object]


@dataclass
class RoundReport:
    acknowledged: list[str] = field(default_factory=list)  # STANs
    failed: list[str] = field(default_factory=list)  # STANs given up (RECON.REVERSAL_FAILED)
    still_pending: int = 0
    last_code: str | None = None


class ReversalSender(JournalSender):
    def __init__(
        self,
        session: HostSession,
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] | None = None,
        on_failed: OnFailed | None = None,
    ) -> None:
        if clock is None:
            super().__init__(session, backoff=backoff)
        else:
            super().__init__(session, backoff=backoff, clock=clock)
        self.on_failed = on_failed

    def queued(self, rec: Record) -> None:
        """Tell the world a reversal is due (the journal already holds it)."""
        self.session.emit(
            EventKind.REVERSAL,
            rec.code,
            stage="queued",
            reason=rec.reversal_reason or "",
            stan=rec.stan,
            batch=rec.batch,
            type=rec.kind.value,
            amount=rec.amount,
            masked_pan=rec.masked_pan,
        )

    def _today_mmdd(self) -> str:
        return datetime.fromtimestamp(self.clock()).strftime("%m%d")

    def _give_up(self, rec: Record, why: str) -> None:
        rec = self.journal.mark_reversal_failed(rec.id, code=FAILED_CODE)
        self.session.emit(
            EventKind.REVERSAL,
            FAILED_CODE,
            stage="failed",
            why=why,
            stan=rec.stan,
            batch=rec.batch,
            type=rec.kind.value,
            amount=rec.amount,
            masked_pan=rec.masked_pan,
            reason=rec.reversal_reason or "",
            tries=rec.reversal_attempts,
        )
        if self.on_failed is not None:
            try:
                self.on_failed(rec, why)
            except Exception as exc:  # the slip is best effort; the event already went out
                self.session.emit(
                    EventKind.FAULT, "PRN.OFFLINE", stage="reversal_slip", detail=str(exc)
                )

    async def send_one(self, rec: Record) -> tuple[bool, str | None]:
        """One try for one reversal; (closed, catalog code of the failure). "Closed" means the
        host answered it; a reversal given up (failed) is not closed but no longer pending."""
        rec = self.journal.get(rec.id)
        if rec.state is not TxnState.REVERSAL_PENDING:
            return rec.state is TxnState.REVERSED, rec.code
        if rec.local_date != self._today_mmdd():
            self._give_up(rec, "earlier_day")
            return False, FAILED_CODE
        failed = await self.session.ensure_signed_on()
        if failed is not None:
            return False, failed.code
        repeat = rec.reversal_attempts > 0
        self.journal.reversal_attempted(
            rec.id, next_at=self.clock() + self.backoff.delay(rec.reversal_attempts)
        )
        pan, expiry = self.journal.card(rec)
        msg = messages.reversal(self.session.cfg, rec, pan, expiry, repeat=repeat)
        reply = await self.session.exchange(msg)
        data = {
            "stan": rec.stan,
            "batch": rec.batch,
            "mti": str(msg["t"]),
            "reason": rec.reversal_reason or "",
        }
        rc = reply.rc or ""
        if reply.status is Status.OK and not lookup(rc).needs_sign_on:
            self.journal.mark_reversed(rec.id, rc=rc)
            self.session.emit(
                EventKind.REVERSAL, None, stage="acknowledged", host=reply.host or "", rc=rc, **data
            )
            return True, None
        code = reply.code or "TXN.HOST_ERROR"
        self.session.emit(EventKind.REVERSAL, code, stage="unacknowledged", rc=rc, **data)
        if reply.status is Status.NOT_SENT:
            return False, code  # never left: not a try the host could have answered
        if reply.status is Status.OK or reply.status is Status.BAD_MAC:
            await self.session.ensure_signed_on()  # 77/99/A0 or a bad MAC: new keys first
        rec = self.journal.reversal_unanswered(rec.id)
        if rec.reversal_unanswered >= self.session.cfg.practice.reversal_tries:
            self._give_up(rec, "unanswered")
            return False, FAILED_CODE
        return False, code

    async def run(self, *, only_due: bool = True, max_tries: int | None = None) -> RoundReport:
        """Send pending reversals (oldest first) until one goes unanswered or ``max_tries``
        are spent; a reversal given up on does not stop the round."""
        report = RoundReport()
        due = self.clock() if only_due else None
        for tries, rec in enumerate(self.journal.pending_reversals(due_before=due)):
            if max_tries is not None and tries >= max_tries:
                break
            ok, code = await self.send_one(rec)
            if ok:
                report.acknowledged.append(rec.stan)
            elif self.journal.get(rec.id).state is TxnState.REVERSAL_FAILED:
                report.failed.append(rec.stan)
            else:
                report.last_code = code
                break
        report.still_pending = len(self.journal.pending_reversals())
        return report
