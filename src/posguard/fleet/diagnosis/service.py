"""The diagnosis loop: tail newly stored events, run the engine, apply its decisions.

One diagnoser per role runs per fleet: everything inside ``posguard fleet serve`` by default, or
``posguard fleet diagnose --shard K --of N`` per shard plus one ``--correlator`` (then start
``serve`` with ``--no-diagnosis``: the in-process diagnoser is shard ``0/1``). It tails the
events table by row id, so any number of ingest workers (HTTP or MQTT) can write. Row ids can commit
out of order on PostgreSQL (and ``ON CONFLICT`` burns sequence values), so a gap below the
newest id seen is re-checked for ``gap_wait_s`` before it is given up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from posguard.catalog.model import Entry
from posguard.fleet.clock import Clock
from posguard.fleet.db.models import (
    Command,
    DiagnosisState,
    EventRow,
    Incident,
    IncidentEvent,
    Terminal,
)
from posguard.fleet.diagnosis.directory import Placement, TerminalDirectory
from posguard.fleet.diagnosis.engine import DiagnosisEngine
from posguard.fleet.diagnosis.group_hits import HitRow
from posguard.fleet.diagnosis.heartbeat_feed import HeartbeatFeed, upsert_liveness
from posguard.fleet.diagnosis.hit_feed import HitFeed
from posguard.fleet.diagnosis.observed import Observed
from posguard.fleet.diagnosis.rules import Rule, RuleKind
from posguard.fleet.diagnosis.shard import ShardRole
from posguard.fleet.incidents import Applied, IncidentApplier
from posguard.fleet.metrics import DIAGNOSIS_LAG, INCIDENTS
from posguard.fleet.repo import commands as command_repo
from posguard.fleet.repo import group_hits as hits_repo

MAX_GAPS = 10_000
WARM_TICK = timedelta(seconds=1)  # a warm-up replay ticks the clock once per second of events


def open_incidents(session: Session, *, evidence: bool = True) -> dict[str, dict[str, datetime]]:
    """rule_id -> scope -> latest evidence (its newest linked event, or when it opened) of
    every incident open or acknowledged now; without ``evidence``, when it opened (the
    correlator reads no events)."""
    rows = session.execute(
        select(Incident.id, Incident.rule_id, Incident.scope, Incident.opened_at).where(
            Incident.open_key.is_not(None)
        )
    ).all()
    latest: dict[int, datetime] = {}
    ids = [r.id for r in rows] if evidence else []
    for chunk in range(0, len(ids), 1000):
        part = ids[chunk : chunk + 1000]
        for incident_id, ts in session.execute(
            select(IncidentEvent.incident_id, func.max(EventRow.ts))
            .join(EventRow, EventRow.id == IncidentEvent.event_id)
            .where(IncidentEvent.incident_id.in_(part))
            .group_by(IncidentEvent.incident_id)
        ):
            latest[incident_id] = ts
    out: dict[str, dict[str, datetime]] = {}
    for r in rows:
        last = latest.get(r.id)
        out.setdefault(r.rule_id, {})[r.scope] = max(r.opened_at, last) if last else r.opened_at
    return out


def name_commands(session: Session, events: list[Observed]) -> None:
    """Add the command's name to each ``command_result`` event (the terminal sends only its
    id): an operator's reboot or rollback announces a planned silence."""
    ids = [e.data.get("command_id") for e in events if e.kind == "command_result"]
    wanted = [i for i in ids if isinstance(i, str)]
    if not wanted:
        return
    rows = session.execute(select(Command.id, Command.name).where(Command.id.in_(wanted)))
    names: dict[str, str] = {}
    for cid, name in rows:
        names[cid] = name
    for e in events:
        found = names.get(e.data.get("command_id", "")) if e.kind == "command_result" else None
        if found is not None:
            e.data.setdefault("command", found)


# what a diagnoser reads of an events row: plain rows of these columns, not ORM objects (a
# shard reads thousands a second; building objects cost it more than the query)
EVENT_COLUMNS = (
    EventRow.id, EventRow.terminal_id, EventRow.merchant_id, EventRow.seq, EventRow.ts,
    EventRow.kind, EventRow.code, EventRow.data,
)  # fmt: skip


def observed(row: Any) -> Observed:
    """An events row (an ORM object or a row of :data:`EVENT_COLUMNS`) as the engine sees it."""
    return Observed(
        id=row.id,
        terminal_id=row.terminal_id,
        merchant_id=row.merchant_id,
        seq=row.seq,
        ts=row.ts,
        kind=row.kind,
        code=row.code,
        data=dict(row.data or {}),
    )


def load_directory(session: Session) -> list[tuple[str, Placement]]:
    rows = session.execute(
        select(
            Terminal.id, Terminal.merchant_id, Terminal.acquirer_host, Terminal.area, Terminal.model
        ).where(Terminal.revoked.is_(False))
    )
    return [(tid, Placement(mid, host, area, model or "")) for tid, mid, host, area, model in rows]


class LockLostError(RuntimeError):
    """The lock this diagnoser's role needs is no longer held."""


class DiagnosisService:
    """Tails the events table, diagnoses, records decisions, and remembers where it stands.

    The cursor (last event id diagnosed, plus ids below it not yet committed) is saved in
    ``diagnosis_state`` in the same transaction as the incidents it led to, so after a crash or
    a restart every event is diagnosed exactly once. On start, the events before the cursor
    (``replay_s`` back) are replayed only to rebuild the rules' windows and timers: that warm-up
    records nothing, and its result is then aligned with the incidents the database has open.
    """

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
        role: ShardRole | None = None,
        grace_after_s: float = 5.0,
        save_every_s: float = 5.0,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.role = role or ShardRole()
        self.directory = TerminalDirectory()
        self.engine = DiagnosisEngine(
            rules,
            catalog=catalog,
            clock=clock,
            directory=self.directory,
            default_heartbeat_s=default_heartbeat_s,
            per_terminal=self.role.per_terminal,
            correlate=self.role.correlate,
        )
        self._group_rules = [r.id for r in rules if r.kind is RuleKind.CORRELATION]
        self.applier = IncidentApplier(rules={r.id: r for r in rules}, catalog=catalog)
        self.cursor = 0
        self.gaps: dict[int, datetime] = {}
        self.gap_wait = timedelta(seconds=gap_wait_s)
        self.batch = batch
        self.shard = self.role.key
        self.grace_after_s = grace_after_s
        self.save_every = timedelta(seconds=save_every_s)
        self._saved: tuple[int, tuple[int, ...], datetime] | None = None
        self.warmed_up = 0  # events replayed by the last start()
        self.heartbeats = HeartbeatFeed(self.role, self.gap_wait)
        # one loop passes time over commands: the correlator (one at a time) or the only process
        self.expire_commands = self.role.correlate
        # a shard of N > 1 counts its events for the correlator, which reads only those counts
        # (the embedded diagnoser, shard 0/1, correlates the events it reads anyway)
        self.publishes = self.role.per_terminal and not self.role.correlate
        self.hits = (
            HitFeed(self.engine.correlations, batch)
            if self.role.correlate and not self.role.per_terminal
            else None
        )

    def start(self, *, replay_s: float = 900.0) -> None:
        """Load the directory, rebuild the rules' state from the events already diagnosed, align
        it with the open incidents, and give terminals a grace period for the service's own
        downtime. Nothing is recorded here: a restart does not rewrite history."""
        self.refresh_directory()
        now = self.clock.now()
        with self.sessions() as session:
            state = session.get(DiagnosisState, self.shard)
            if state is not None:
                cursor, gaps, last_step = state.cursor, list(state.gaps), state.last_step_at
            elif self.hits is not None:
                since = now - timedelta(seconds=replay_s)
                cursor, gaps, last_step = hits_repo.first_cursor(session, since), [], None
            else:
                cursor, gaps, last_step = self._first_cursor(session, now, replay_s), [], None
            if self.hits is not None:
                anchor = hits_repo.written_at(session, cursor)
            else:
                anchor = session.scalar(
                    select(EventRow.received_at)
                    .where(EventRow.id <= cursor)
                    .order_by(EventRow.id.desc())
                    .limit(1)
                )
            if last_step is None:
                last_step = anchor
            if self.role.per_terminal:  # every terminal's last heartbeat, however old
                self.engine.observe(self.heartbeats.all(session))
            if anchor is not None:
                since = anchor - timedelta(seconds=replay_s)
                if self.hits is not None:
                    tick = self.engine.tick
                    self.warmed_up = self.hits.warm_up(session, cursor, set(gaps), since, tick)
                else:
                    self.warmed_up = self._warm_up(session, cursor, set(gaps), since)
            if self.hits is not None:
                self.engine.sync(open_incidents(session, evidence=False), replayed=True)
            else:
                self.engine.sync(open_incidents(session))
        down_s = (now - last_step).total_seconds() if last_step is not None else 0.0
        if down_s > self.grace_after_s:
            self.engine.grace(now, down_s)
        self.cursor = cursor
        self.gaps = dict.fromkeys(gaps, now + self.gap_wait)
        self._saved = (cursor, tuple(sorted(gaps)), last_step or now)

    def _first_cursor(self, session: Session, now: datetime, replay_s: float) -> int:
        """Where a shard that never saved a cursor starts. A database with incidents but no
        cursor of any role was diagnosed by a version that did not keep one: everything stored
        counts as diagnosed (replayed only to warm up). Otherwise the recent events
        (``replay_s``) are diagnosed now: also when other roles keep cursors, since their
        incidents say nothing of this role's terminals (a shard starting after the other one
        already opened incidents must not skip its own terminals' faults); a decision already
        recorded is found again by its cause, never opened twice."""
        newest = session.scalar(select(func.max(EventRow.id))) or 0
        legacy = session.scalar(select(DiagnosisState.shard).limit(1)) is None
        if legacy and session.scalar(select(Incident.id).limit(1)) is not None:
            return newest
        since = now - timedelta(seconds=replay_s)
        first = session.scalar(select(func.min(EventRow.id)).where(EventRow.received_at >= since))
        return (first - 1) if first is not None else newest

    def _warm_up(self, session: Session, cursor: int, gaps: set[int], since: datetime) -> int:
        first = session.scalar(select(func.min(EventRow.id)).where(EventRow.received_at >= since))
        if first is None:
            return 0
        after, count = first - 1, 0
        clock: datetime | None = None
        while True:
            q = select(*EVENT_COLUMNS).where(EventRow.id > after, EventRow.id <= cursor)
            if self.role.filtered:
                q = q.where(self._slot_filter())
            rows = session.execute(q.order_by(EventRow.id).limit(self.batch)).all()
            if not rows:
                return count
            after = rows[-1].id
            for row in rows:
                if row.id in gaps or not self._mine(row.terminal_id):
                    continue
                ev = observed(row)
                if clock is None or ev.ts > clock:
                    if clock is not None and ev.ts - clock >= WARM_TICK:
                        self.engine.tick(at=clock)
                    clock = ev.ts
                self.engine.observe([ev])
                count += 1
            if clock is not None:
                self.engine.tick(at=clock)

    def refresh_directory(self) -> None:
        with self.sessions() as session:
            self.directory.replace(load_directory(session))

    def step(self) -> Applied:
        """Diagnose what arrived since the last step and what the clock says; commit the result."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            rows = self._new_rows(session, now) if self.hits is None else []
            events = [observed(r) for r in rows if self._mine(r.terminal_id)]
            if events:
                name_commands(session, events)
                if self.role.per_terminal:
                    upsert_liveness(session, events, now)
            if self.role.per_terminal:
                events = self.heartbeats.new(session, now) + events
            if not self.role.correlate and self._group_rules:
                self.engine.sync_groups(self._open_groups(session))
            decisions = self.engine.observe(events)
            counted: list[HitRow] = []
            if self.hits is not None:  # the correlator: the shards' counts, fleet rules first
                counted = self._counts(session, now)
                decisions = self.hits.observe(counted) + decisions
            decisions.extend(self.engine.tick())
            if self.publishes and self._group_rules:
                hits_repo.publish(
                    session, self.engine.correlations, events, shard=self.shard, now=now
                )
            applied = self.applier.apply(session, decisions, now=now)
            if self.role.correlate and self._group_rules:
                self.applier.sweep(session, now=now)
            self._save(session, now)
            if self.expire_commands:
                command_repo.expire_due(session, now=now)
        newest = max(e.ts for e in events) if events else HitFeed.latest(counted)
        lag = (now - newest).total_seconds() if newest is not None else 0.0
        DIAGNOSIS_LAG.set(max(0.0, lag))  # every step: a frozen value would look healthy
        INCIDENTS.labels("opened").inc(len(applied.opened))
        INCIDENTS.labels("resolved").inc(len(applied.resolved))
        return applied

    def _new_rows(self, session: Session, now: datetime) -> Sequence[Any]:
        """The events stored since the last step (and re-checked gaps) that this role reads,
        oldest first, advancing the cursor over every id. A shard of N > 1 reads the ids and
        slots of the new rows, then loads only the rows of its own slots."""
        new = EventRow.id > self.cursor
        since = new | EventRow.id.in_(list(self.gaps)) if self.gaps else new
        if not self.role.filtered:
            rows = session.execute(
                select(*EVENT_COLUMNS).where(since).order_by(EventRow.id).limit(self.batch)
            ).all()
            self._advance([r.id for r in rows], now)
            return rows
        seen = session.execute(
            select(EventRow.id, EventRow.shard_slot)
            .where(since)
            .order_by(EventRow.id)
            .limit(self.batch)
        ).all()
        before = self.cursor
        mine = [i for i, slot in seen if self.role.owns_slot(slot)]
        self._advance([i for i, _ in seen], now)
        if not mine:
            return []
        late = [i for i in mine if i <= before]  # gaps that have committed since
        fresh = [i for i in mine if i > before]
        conds: list[Any] = [EventRow.id.in_(late)] if late else []
        if fresh:
            conds.append(
                (EventRow.id >= fresh[0]) & (EventRow.id <= fresh[-1]) & self._slot_filter()
            )
        return session.execute(
            select(*EVENT_COLUMNS).where(or_(*conds)).order_by(EventRow.id)
        ).all()

    def _counts(self, session: Session, now: datetime) -> list[HitRow]:
        """The correlator's input: the shards' counts written since its cursor."""
        assert self.hits is not None
        rows = self.hits.new(session, self.cursor, list(self.gaps))
        self._advance([r.version for r in rows], now)
        self.hits.prune(session, now)
        return rows

    def _slot_filter(self) -> Any:
        return EventRow.shard_slot % self.role.of == self.role.shard

    def _mine(self, terminal_id: str) -> bool:
        """A shard diagnoses its own terminals; the correlator sees every event."""
        return self.role.correlate or self.role.owns(terminal_id)

    def _open_groups(self, session: Session) -> dict[str, dict[str, datetime]]:
        out: dict[str, dict[str, datetime]] = {}
        for rule_id, scope, opened in session.execute(
            select(Incident.rule_id, Incident.scope, Incident.opened_at).where(
                Incident.open_key.is_not(None),
                Incident.terminal_id.is_(None),
                Incident.rule_id.in_(self._group_rules),
            )
        ):
            out.setdefault(rule_id, {})[scope] = opened
        return out

    def _save(self, session: Session, now: datetime) -> None:
        """Keep the cursor with the decisions it led to (same transaction); when nothing moved,
        only every ``save_every_s`` (it also says when the diagnoser last ran)."""
        gaps = tuple(sorted(self.gaps))
        if self._saved is not None:
            cursor, saved_gaps, at = self._saved
            if (cursor, saved_gaps) == (self.cursor, gaps) and now - at < self.save_every:
                return
        state = session.get(DiagnosisState, self.shard)
        if state is None:
            session.add(
                DiagnosisState(
                    shard=self.shard, cursor=self.cursor, gaps=list(gaps), last_step_at=now
                )
            )
        else:
            state.cursor, state.gaps, state.last_step_at = self.cursor, list(gaps), now
        self._saved = (self.cursor, gaps, now)

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
        holds: Callable[[], bool] | None = None,
    ) -> None:
        """Step every ``poll_s`` until ``stop`` is set, calling ``beat`` after each step; an
        error ends the run (the caller supervises it, see :mod:`posguard.fleet.supervise`).
        ``holds``: asked before every step (the correlator: its lock is still held); False ends
        the run with :class:`LockLostError`, so a correlator whose lock the server dropped stops
        deciding before another one takes the lock, instead of running beside it."""
        await asyncio.to_thread(self.start)
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + directory_every_s
        while not stop.is_set():
            if holds is not None and not await asyncio.to_thread(holds):
                raise LockLostError("the correlator lock was lost (its connection was dropped)")
            applied = await asyncio.to_thread(self.step)
            if loop.time() >= next_refresh:
                await asyncio.to_thread(self.refresh_directory)
                next_refresh = loop.time() + directory_every_s
            if beat is not None:
                beat()
            if not applied.opened and not applied.extended:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_s)
