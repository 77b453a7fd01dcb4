"""The diagnosis loop: tail newly stored events, run the engine, apply its decisions.

One diagnoser runs per fleet (inside ``posguard fleet serve`` by default). It tails the events
table by row id, so any number of ingest workers (HTTP or MQTT) can write. Row ids can commit
out of order on PostgreSQL (and ``ON CONFLICT`` burns sequence values), so a gap below the
newest id seen is re-checked for ``gap_wait_s`` before it is given up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from posguard.catalog.model import Entry
from posguard.fleet.clock import Clock
from posguard.fleet.db.models import EventRow, Incident, Terminal
from posguard.fleet.diagnosis.directory import Placement, TerminalDirectory
from posguard.fleet.diagnosis.engine import DiagnosisEngine
from posguard.fleet.diagnosis.observed import Observed
from posguard.fleet.diagnosis.rules import Rule, RuleKind
from posguard.fleet.incidents import Applied, IncidentApplier
from posguard.fleet.metrics import DIAGNOSIS_LAG, INCIDENTS

MAX_GAPS = 10_000


def observed(row: EventRow) -> Observed:
    return Observed(
        id=row.id,
        terminal_id=row.terminal_id,
        merchant_id=row.merchant_id,
        seq=row.seq,
        ts=row.ts,
        kind=row.kind,
        code=row.code,
        data=row.data or {},
    )


def load_directory(session: Session) -> list[tuple[str, Placement]]:
    rows = session.execute(
        select(
            Terminal.id, Terminal.merchant_id, Terminal.acquirer_host, Terminal.area, Terminal.model
        ).where(Terminal.revoked.is_(False))
    )
    return [(tid, Placement(mid, host, area, model or "")) for tid, mid, host, area, model in rows]


class DiagnosisService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        rules: Sequence[Rule],
        catalog: Mapping[str, Entry],
        clock: Clock,
        default_heartbeat_s: float = 60.0,
        gap_wait_s: float = 5.0,
        batch: int = 5000,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.directory = TerminalDirectory()
        self.engine = DiagnosisEngine(
            rules,
            catalog=catalog,
            clock=clock,
            directory=self.directory,
            default_heartbeat_s=default_heartbeat_s,
        )
        self.applier = IncidentApplier(rules={r.id: r for r in rules}, catalog=catalog)
        self.cursor = 0
        self.gaps: dict[int, datetime] = {}
        self.gap_wait = timedelta(seconds=gap_wait_s)
        self.batch = batch

    def start(self, *, replay_s: float = 900.0) -> None:
        """Load the directory, re-seed open group incidents, and replay recent events so
        windows and timers hold again after a restart (opens dedupe against the database)."""
        self.refresh_directory()
        since = self.clock.now() - timedelta(seconds=replay_s)
        with self.sessions() as session:
            correlation_ids = [
                r.id for r in self.engine.rules.values() if r.kind is RuleKind.CORRELATION
            ]
            if correlation_ids:
                for rule_id, scope in session.execute(
                    select(Incident.rule_id, Incident.scope).where(
                        Incident.open_key.is_not(None), Incident.rule_id.in_(correlation_ids)
                    )
                ):
                    self.engine.seed_open(rule_id=rule_id, scope=scope)
            first = session.scalar(
                select(func.min(EventRow.id)).where(EventRow.received_at >= since)
            )
            last = session.scalar(select(func.max(EventRow.id)))
        self.cursor = (first - 1) if first is not None else (last or 0)

    def refresh_directory(self) -> None:
        with self.sessions() as session:
            self.directory.replace(load_directory(session))

    def step(self) -> Applied:
        """Diagnose what arrived since the last step and what the clock says; commit the result."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            rows = session.scalars(
                select(EventRow)
                .where((EventRow.id > self.cursor) | EventRow.id.in_(list(self.gaps)))
                .order_by(EventRow.id)
                .limit(self.batch)
            ).all()
            events = [observed(r) for r in rows]
            self._advance([e.id for e in events], now)
            decisions = self.engine.observe(events)
            decisions.extend(self.engine.tick())
            applied = self.applier.apply(session, decisions)
        lag = (now - max(e.ts for e in events)).total_seconds() if events else 0.0
        DIAGNOSIS_LAG.set(max(0.0, lag))  # every step: a frozen value would look healthy
        INCIDENTS.labels("opened").inc(len(applied.opened))
        INCIDENTS.labels("resolved").inc(len(applied.resolved))
        return applied

    def _advance(self, ids: list[int], now: datetime) -> None:
        for i in ids:
            self.gaps.pop(i, None)
        new = [i for i in ids if i > self.cursor]
        if new:
            expected = self.cursor + 1
            for i in new:
                for missing in range(expected, i):
                    if len(self.gaps) < MAX_GAPS:
                        self.gaps[missing] = now + self.gap_wait
                expected = i + 1
            self.cursor = new[-1]
        for gid in [g for g, deadline in self.gaps.items() if deadline <= now]:
            del self.gaps[gid]

    async def run(
        self,
        stop: asyncio.Event,
        *,
        poll_s: float = 0.2,
        directory_every_s: float = 30.0,
        beat: Callable[[], None] | None = None,
    ) -> None:
        """Step every ``poll_s`` until ``stop`` is set, calling ``beat`` after each step; an
        error ends the run (the caller supervises it, see :mod:`posguard.fleet.supervise`)."""
        await asyncio.to_thread(self.start)
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + directory_every_s
        while not stop.is_set():
            applied = await asyncio.to_thread(self.step)
            if loop.time() >= next_refresh:
                await asyncio.to_thread(self.refresh_directory)
                next_refresh = loop.time() + directory_every_s
            if beat is not None:
                beat()
            if not applied.opened and not applied.extended:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_s)
