"""Reversals: sent from the journal until the host acknowledges them, surviving restarts.

The first try is an 0400, every later one (in this run or after a restart) an 0401. The
attempt is counted in the journal *before* it is sent, so a crash mid-send still makes the
next one a repeat. Tries follow exponential backoff with jitter; a failed try stops the round
(the host is not there), the record stays pending and is sent before the next financial
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from posguard.common.events import EventKind
from posguard.terminal.engine import messages
from posguard.terminal.engine.session import Status
from posguard.terminal.journal.records import Record
from posguard.terminal.journal_sender import JournalSender


@dataclass
class RoundReport:
    acknowledged: list[str] = field(default_factory=list)  # STANs
    still_pending: int = 0
    last_code: str | None = None


class ReversalSender(JournalSender):
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

    async def send_one(self, rec: Record) -> tuple[bool, str | None]:
        """One try for one reversal; (acknowledged, catalog code of the failure)."""
        failed = await self.session.ensure_signed_on()
        if failed is not None:
            return False, failed.code
        rec = self.journal.get(rec.id)
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
        if reply.status is Status.OK and reply.rc == "00":
            self.journal.mark_reversed(rec.id)
            self.session.emit(
                EventKind.REVERSAL, None, stage="acknowledged", host=reply.host or "", **data
            )
            return True, None
        code = reply.code or "TXN.HOST_ERROR"
        self.session.emit(
            EventKind.REVERSAL, code, stage="unacknowledged", rc=reply.rc or "", **data
        )
        return False, code

    async def run(self, *, only_due: bool = True, max_tries: int | None = None) -> RoundReport:
        """Send pending reversals (oldest first) until one fails or ``max_tries`` are spent."""
        report = RoundReport()
        due = self.clock() if only_due else None
        for tries, rec in enumerate(self.journal.pending_reversals(due_before=due)):
            if max_tries is not None and tries >= max_tries:
                break
            ok, code = await self.send_one(rec)
            if ok:
                report.acknowledged.append(rec.stan)
            else:
                report.last_code = code
                break
        report.still_pending = len(self.journal.pending_reversals())
        return report
