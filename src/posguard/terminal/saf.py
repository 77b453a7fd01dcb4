"""Store-and-forward of advices (refund, 0220): queued durably in the journal first, then
forwarded whenever a host is reachable, with exponential backoff between rounds.

A repeated advice carries the same STAN, so the host can tell it from a new refund; when it
answers ``94`` (duplicate) to a repeat, it already holds the advice and the queue lets it go.

UnionPay practice: an advice stays queued through transient answers (``90``, ``91``, ``96``,
``98``, ``06``, and ``77``/``99``/``A0`` after which the terminal signs on again) and
timeouts. Only a real decline closes it unsent: the refund must be redone, so a
merchant-facing ``TXN.REFUND_DECLINED`` fault is raised (the fleet opens an incident). A
declined advice is never counted as forwarded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from posguard.common.events import EventKind
from posguard.iso8583.response_codes import lookup
from posguard.terminal.engine import messages
from posguard.terminal.engine.session import Reply, Status
from posguard.terminal.journal.records import Record, TxnState
from posguard.terminal.journal_sender import JournalSender

TRANSIENT = frozenset({"90", "91", "96", "98", "06", "77", "99", "A0"})
DECLINED_CODE = "TXN.REFUND_DECLINED"


@dataclass
class ForwardReport:
    forwarded: list[str] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)
    still_queued: int = 0
    last_code: str | None = None


class AdviceForwarder(JournalSender):
    async def send_one(self, rec: Record, *, inline: bool = False) -> tuple[Record, Reply]:
        """One try; returns the (possibly resolved) record and the reply."""
        failed = await self.session.ensure_signed_on()
        if failed is not None:
            self.journal.advice_attempted(
                rec.id, next_at=self.clock() + self.backoff.delay(rec.advice_attempts)
            )
            return self.journal.get(rec.id), failed
        rec = self.journal.get(rec.id)
        repeat = rec.advice_attempts > 0
        self.journal.advice_attempted(
            rec.id, next_at=self.clock() + self.backoff.delay(rec.advice_attempts)
        )
        pan, expiry = self.journal.card(rec)
        reply = await self.session.exchange(messages.financial(self.session.cfg, rec, pan, expiry))
        if reply.status is Status.OK and reply.answer is not None and reply.rc is not None:
            rc = reply.rc
            if rc == "94" and repeat:
                rc = "00"  # the host already has this advice from an earlier try
            if rc in TRANSIENT:
                if lookup(rc).needs_sign_on:
                    await self.session.ensure_signed_on()
                return self.journal.get(rec.id), reply
            rrn = reply.answer.get("37")
            rec = self.journal.mark_advice_done(
                rec.id, rc=rc, rrn=rrn if isinstance(rrn, str) else None, host=reply.host or ""
            )
            data = {
                "type": rec.kind.value,
                "rc": rc,
                "amount": rec.amount,
                "stan": rec.stan,
                "masked_pan": rec.masked_pan,
            }
            if rc != "00":  # the refund did not happen: the merchant must redo it
                self.session.emit(EventKind.FAULT, DECLINED_CODE, stage="advice", **data)
            if not inline:  # inline, the runtime reports the outcome itself
                self.session.emit(
                    EventKind.TRANSACTION,
                    None if rc == "00" else reply.code,
                    outcome="forwarded" if rc == "00" else "declined",
                    **data,
                )
        return rec, reply

    async def run(self, *, only_due: bool = True, max_tries: int | None = None) -> ForwardReport:
        report = ForwardReport()
        for tries, rec in enumerate(
            self.journal.pending_advices(due_before=self.clock() if only_due else None)
        ):
            if max_tries is not None and tries >= max_tries:
                break
            done, reply = await self.send_one(rec)
            if done.state is TxnState.ADVICE_PENDING:
                report.last_code = reply.code
                break
            if done.state is TxnState.COMPLETED:
                report.forwarded.append(done.stan)
            else:
                report.declined.append(done.stan)
        report.still_queued = len(self.journal.pending_advices())
        return report
