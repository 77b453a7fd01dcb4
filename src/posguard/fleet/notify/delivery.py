"""The delivery loop every fleet worker runs: enqueue escalations that are due, claim due
outbox rows per channel, drop those that no longer need saying, group a storm into one
message per recipient, respect the channel's rate, send, and record the outcome (sent, retry
with backoff, failed, suppressed).

Delivery is at-least-once with a key: a row is marked sent after the receiver accepted it; a
worker killed between the two leaves the row to be retaken when its lease ends, and the message
goes out again with the same idempotency key (webhook header, e-mail Message-ID) for the
receiver to drop. Robots (DingTalk, WeCom, Feishu) cannot dedupe; that window is one request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from posguard.catalog.model import Entry
from posguard.common.errors import ConfigError
from posguard.fleet.clock import Clock
from posguard.fleet.db.models import Incident
from posguard.fleet.db.models import NotificationOutbox as Row
from posguard.fleet.incident_policy import IncidentPolicy, get_policy
from posguard.fleet.notify import outbox
from posguard.fleet.notify.audit_trail import audit_sent, said_by
from posguard.fleet.notify.channels.base import Sender, SendResult, SendStatus
from posguard.fleet.notify.channels.registry import make_sender
from posguard.fleet.notify.config import NotifyConfig
from posguard.fleet.notify.hook import rows_for, subject
from posguard.fleet.notify.message import IncidentFacts, build_message
from posguard.fleet.notify.metrics import MESSAGES, NOTIFICATIONS
from posguard.fleet.notify.outbox import RowStatus
from posguard.fleet.notify.routing import escalations_due, first_escalation_min
from posguard.fleet.notify.sla_breach import breach_rows

log = structlog.get_logger(__name__)


@dataclass
class Stats:
    sent_messages: int = 0
    sent_rows: int = 0
    retrying: int = 0
    failed: int = 0
    suppressed: int = 0
    rate_limited: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)


def _facts(inc: Incident, transition: str, said_by: str | None = None) -> IncidentFacts:
    """``said_by``: who an assign or reopen message names, from its audit entry (the
    incident's current assignee may have changed since)."""
    kind = transition.partition(":")[0]
    by = {"ack": inc.acknowledged_by, "resolve": inc.resolved_by}.get(kind, said_by)
    return IncidentFacts(
        id=inc.id,
        code=inc.code,
        severity=inc.severity,
        status=inc.status,
        scope=inc.scope,
        terminal_id=inc.terminal_id,
        merchant_id=inc.merchant_id,
        opened_at=inc.opened_at,
        by=by,
    )


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Notifier:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        config: NotifyConfig,
        catalog: Mapping[str, Entry],
        clock: Clock,
        worker_id: str | None = None,
        senders: Mapping[str, Sender] | None = None,
        policy: IncidentPolicy | None = None,
    ) -> None:
        self.sessions = sessions
        self.config = config
        self.catalog = catalog
        self.clock = clock
        self.worker = worker_id or default_worker_id()
        self.policy = policy or get_policy()  # the SLA targets breaches are measured against
        self.senders = dict(senders or {})
        for cid, ch in config.channels.items():
            self.senders.setdefault(cid, make_sender(ch, clock))

    # -- escalation ---------------------------------------------------------------------
    def escalate(self) -> int:
        """Enqueue the escalation levels that are due for open (unacknowledged) incidents."""
        first = first_escalation_min(self.config)
        if first is None:
            return 0
        now = self.clock.now()
        longest = max(lv.after_min for r in self.config.routes for lv in r.escalate)
        with self.sessions.begin() as s:
            incidents = s.scalars(
                select(Incident).where(
                    Incident.status == "open",
                    Incident.reopen_count == 0,  # a reopened one was told again (reopen)
                    Incident.opened_at <= now - timedelta(minutes=first),
                    Incident.opened_at >= now - timedelta(minutes=longest + 24 * 60),
                )
            ).all()
            rows = []
            conn = s.connection()
            for inc in incidents:
                minutes = (now - inc.opened_at).total_seconds() / 60
                due = escalations_due(
                    self.config, subject(conn, inc, self.catalog), minutes_open=minutes
                )
                for r in due:
                    rows.extend(rows_for(inc.id, f"escalate:{r.level}", [r], self.clock))
            if not rows:
                return 0
            known = set(
                s.scalars(
                    select(Row.idem_key).where(Row.idem_key.in_([r["idem_key"] for r in rows]))
                )
            )
            return outbox.enqueue(s, [r for r in rows if r["idem_key"] not in known])

    def escalate_sla(self) -> int:
        """Enqueue the SLA breaches not told yet (``notify.sla_breach``)."""
        with self.sessions.begin() as s:
            rows = breach_rows(
                s, config=self.config, catalog=self.catalog, clock=self.clock, policy=self.policy
            )
            if not rows:
                return 0
            keys = [r["idem_key"] for r in rows]
            known = set(s.scalars(select(Row.idem_key).where(Row.idem_key.in_(keys))))
            return outbox.enqueue(s, [r for r in rows if r["idem_key"] not in known])

    # -- delivery -----------------------------------------------------------------------
    async def deliver_once(self) -> Stats:
        stats = Stats()
        for cid, channel in self.config.channels.items():
            budget: int | None = None
            if channel.rate_per_min is not None:
                used = await asyncio.to_thread(self._sent_last_minute, cid)
                budget = channel.rate_per_min - used
                if budget <= 0:
                    stats.rate_limited += 1
                    continue
            await self._deliver_channel(cid, budget, stats)
        return stats

    def _sent_last_minute(self, channel: str) -> int:
        with self.sessions() as s:
            since = self.clock.now() - timedelta(seconds=60)
            return outbox.messages_sent_since(s, channel=channel, since=since)

    def _claim(
        self, channel: str
    ) -> tuple[list[Row], dict[int, Incident], set[tuple[int, str]], dict[int, str]]:
        d = self.config.delivery
        with self.sessions.begin() as s:
            rows = outbox.claim(
                s,
                channel=channel,
                worker=self.worker,
                now=self.clock.now(),
                lease_s=d.lease_s,
                limit=d.batch,
            )
            ids = {r.incident_id for r in rows if r.incident_id is not None}
            incidents = {i.id: i for i in s.scalars(select(Incident).where(Incident.id.in_(ids)))}
            # who heard the beginning (an open or an escalation was sent): only they hear the end
            heard = {
                (i, rcpt)
                for i, rcpt in s.execute(
                    select(Row.incident_id, Row.recipient).where(
                        Row.incident_id.in_(ids),
                        Row.channel == channel,
                        Row.status == RowStatus.SENT.value,
                        Row.transition.not_like("ack%"),
                        Row.transition.not_like("resolve%"),
                    )
                )
                if i is not None
            }
            said = said_by(s, rows)
            for r in rows:
                s.expunge(r)
            for inc in incidents.values():
                s.expunge(inc)
        return rows, incidents, heard, said

    @staticmethod
    def _stale(row: Row, inc: Incident | None, heard: set[tuple[int, str]]) -> str | None:
        """Why this row need not be sent any more, or None."""
        kind = row.transition.partition(":")[0]
        if inc is None:
            return "incident not found"
        if kind == "open" and inc.status == "merged":
            return f"merged into incident #{inc.parent_id}"
        if kind == "open" and inc.status == "resolved":
            return "cleared before the message went out"
        if kind == "escalate" and inc.status != "open":
            return f"{inc.status} before the escalation went out"
        if kind in ("ack", "resolve") and (inc.id, row.recipient) not in heard:
            return "the recipient was never told it opened"
        if kind in ("assign", "reopen", "sla") and inc.status not in ("open", "acknowledged"):
            return f"{inc.status} before the message went out"
        if row.transition.startswith("sla:ack") and inc.status != "open":
            return "acknowledged before the message went out"
        return None

    async def _deliver_channel(self, channel: str, budget: int | None, stats: Stats) -> None:
        rows, incidents, heard, said = await asyncio.to_thread(self._claim, channel)
        if not rows:
            return
        live: list[Row] = []
        stale: dict[str, list[int]] = {}
        for r in rows:
            reason = self._stale(r, incidents.get(r.incident_id or -1), heard)
            if reason is None:
                live.append(r)
            else:
                stale.setdefault(reason, []).append(r.id)
        for reason, ids in stale.items():
            await asyncio.to_thread(self._finish, ids, RowStatus.SUPPRESSED, reason, None)
            stats.suppressed += len(ids)
            NOTIFICATIONS.labels(channel, "suppressed").inc(len(ids))
        groups: dict[tuple[str, str, str, str], list[Row]] = {}
        for r in live:
            groups.setdefault((r.recipient, r.transition, r.lang, r.audience), []).append(r)
        ordered = list(groups.values())
        if budget is not None and len(ordered) > budget:
            held = [r.id for g in ordered[budget:] for r in g]
            await asyncio.to_thread(self._release, held)
            stats.rate_limited += len(held)
            NOTIFICATIONS.labels(channel, "rate_limited").inc(len(held))
            ordered = ordered[:budget]
        for group in ordered:
            await self._send_group(channel, group, incidents, said, stats)

    async def _send_group(
        self,
        channel: str,
        group: Sequence[Row],
        incidents: Mapping[int, Incident],
        said: Mapping[int, str],
        stats: Stats,
    ) -> None:
        first = group[0]
        keys = sorted(r.idem_key for r in group)
        key = keys[0] if len(keys) == 1 else hashlib.sha256("".join(keys).encode()).hexdigest()
        facts = [
            _facts(incidents[r.incident_id or -1], first.transition, said.get(r.id)) for r in group
        ]
        msg = build_message(
            facts,
            transition=first.transition,
            lang=first.lang,
            audience=first.audience,
            catalog=self.catalog,
            public_url=self.config.public_url,
            key=key,
            max_items=self.config.delivery.digest_max_items,
        )
        try:
            result = await self.senders[channel].send(msg, recipient=first.recipient)
        except ConfigError as exc:  # a secret that cannot be read: say which, retry later
            result = SendResult(SendStatus.RETRY, str(exc)[:200])
        except Exception as exc:
            log.exception("notify.sender_error", channel=channel)
            result = SendResult(SendStatus.RETRY, f"sender error: {type(exc).__name__}")
        ids = [r.id for r in group]
        if result.status is SendStatus.SENT:
            await asyncio.to_thread(self._sent, ids, key)
            stats.sent_messages += 1
            stats.sent_rows += len(ids)
            stats.by_channel[channel] = stats.by_channel.get(channel, 0) + 1
            NOTIFICATIONS.labels(channel, "sent").inc(len(ids))
            MESSAGES.labels(channel).inc()
            log.info("notify.sent", channel=channel, transition=first.transition, rows=len(ids))
            return
        attempts = max(r.attempts for r in group)
        d = self.config.delivery
        if result.status is SendStatus.FAILED or attempts >= d.max_attempts:
            await asyncio.to_thread(self._finish, ids, RowStatus.FAILED, result.detail, None)
            stats.failed += len(ids)
            NOTIFICATIONS.labels(channel, "failed").inc(len(ids))
            log.warning("notify.failed", channel=channel, detail=result.detail, attempts=attempts)
            return
        delay = min(d.backoff_s * 2 ** (attempts - 1), d.backoff_max_s)
        retry_at = self.clock.now() + timedelta(seconds=delay)
        await asyncio.to_thread(self._finish, ids, RowStatus.PENDING, result.detail, retry_at)
        stats.retrying += len(ids)
        NOTIFICATIONS.labels(channel, "retry").inc(len(ids))
        log.warning("notify.retry", channel=channel, detail=result.detail, in_s=delay)

    def _sent(self, ids: Sequence[int], key: str) -> None:
        now = self.clock.now()
        with self.sessions.begin() as s:
            if outbox.mark_sent(s, ids, worker=self.worker, now=now, message_key=key):
                audit_sent(s, ids, worker=self.worker, key=key, now=now)

    def _finish(
        self, ids: Sequence[int], status: RowStatus, detail: str, retry_at: datetime | None
    ) -> None:
        with self.sessions.begin() as s:
            outbox.mark_unsent(
                s, ids, worker=self.worker, status=status, error=detail, next_attempt_at=retry_at
            )

    def _release(self, ids: Sequence[int]) -> None:
        with self.sessions.begin() as s:
            outbox.release(s, ids, worker=self.worker)

    # -- the loop -----------------------------------------------------------------------
    async def step(self) -> Stats:
        await asyncio.to_thread(self.escalate)
        await asyncio.to_thread(self.escalate_sla)
        return await self.deliver_once()

    async def run(self, stop: asyncio.Event, *, poll_s: float = 2.0) -> None:
        """Until ``stop``: escalate and deliver every ``poll_s``; a database error is logged
        and the next round tries again (the rows wait in the outbox)."""
        while not stop.is_set():
            try:
                await self.step()
            except SQLAlchemyError as exc:
                log.warning("notify.db_error", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
