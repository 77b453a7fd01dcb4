"""The correlator combines the shards' counts (``group_hits``), not the events (issue #15):
the fleet-wide scenarios of ``test_correlation`` run through two shards and a correlator reach
the same group incidents as the embedded diagnoser that reads every event; the correlator's
statements never touch ``events``; a shard killed and restarted counts nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.db.models import GroupHit, Incident
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.service import DiagnosisService
from posguard.fleet.diagnosis.shard import ShardRole
from posguard.fleet.ingest.store import EventStore, Outcome

from . import test_correlation as scenarios
from .conftest import T0, FleetDB, event
from .test_rules import Rig


class _All:
    def __init__(self, diagnosers: list[DiagnosisService]) -> None:
        self.diagnosers = diagnosers

    def refresh_directory(self) -> None:
        for d in self.diagnosers:
            d.refresh_directory()


class ShardedRig(Rig):
    """:class:`Rig` with shards 0/2 and 1/2 and a correlator: each step runs the shards, then
    the correlator (which reads what the shards counted)."""

    def __init__(self, db: FleetDB, clock: FakeClock) -> None:
        self.db, self.clock = db, clock
        catalog = default_catalog()
        rules = load_rules(catalog=catalog)
        self.store = EventStore(db.sessions, catalog=catalog, clock=clock)

        def diagnoser(role: ShardRole) -> DiagnosisService:
            d = DiagnosisService(db.sessions, rules=rules, catalog=catalog, clock=clock, role=role)
            d.start()
            return d

        self.shards = [diagnoser(ShardRole.parse(k, 2)) for k in (0, 1)]
        self.correlator = diagnoser(ShardRole.correlator())
        self.diag = _All([*self.shards, self.correlator])  # type: ignore[assignment]
        self.seq: dict[str, int] = {}
        with db.sessions() as s:
            from posguard.fleet.db.models import Terminal

            self.merchant = dict(s.execute(select(Terminal.id, Terminal.merchant_id)).all())

    def step(self, advance_s: float = 0.0) -> None:
        self.clock.advance(advance_s)
        for shard in self.shards:
            shard.step()
        self.correlator.step()


SCENARIOS = [
    scenarios.test_host_outage_is_one_incident_that_swallows_the_terminal_ones,
    scenarios.test_area_outage_across_hosts_is_one_area_incident,
    scenarios.test_scattered_network_faults_stay_per_terminal,
    scenarios.test_issuer_outage_across_hosts_is_one_incident_naming_the_issuer,
    scenarios.test_a_host_only_two_terminals_use_is_an_incident_when_both_fail,
    scenarios.test_terminals_joining_an_open_outage_are_added_to_its_list,
    scenarios.test_a_network_outage_does_not_swallow_a_printer_incident,
    scenarios.test_a_bad_rollout_on_one_model_is_one_model_incident,
    scenarios.test_a_merged_incident_never_closes_before_it_opened,
]


def _groups(db: FleetDB) -> list[tuple[Any, ...]]:
    """The group incidents as decided: everything but ids and linked events."""
    with db.sessions() as s:
        rows = s.scalars(
            select(Incident).where(Incident.terminal_id.is_(None)).order_by(Incident.id)
        )
        return [
            (
                i.rule_id,
                i.scope,
                i.code,
                i.status,
                i.severity,
                i.explanation["reason"],
                i.explanation.get("cleared"),
                sorted(i.explanation["members"]),
                i.opened_at,
                i.resolved_at,
            )
            for i in rows
        ]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("test_"))
def test_the_sharded_correlator_reaches_the_embedded_decisions(
    scenario: Callable[[Rig], None], fleet_db: FleetDB, clock: FakeClock, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'embedded.db'}")
    upgrade(engine)
    embedded = FleetDB(str(engine.url), engine, make_sessionmaker(engine), "sqlite")
    try:
        scenarios._fleet(embedded)
        scenario(Rig(embedded, FakeClock(T0)))  # the reference: one diagnoser, every event
        scenarios._fleet(fleet_db)
        scenario(ShardedRig(fleet_db, clock))  # the same assertions hold
        assert _groups(fleet_db) == _groups(embedded)
    finally:
        engine.dispose()


def test_the_correlator_reads_no_events(fleet_db: FleetDB, clock: FakeClock) -> None:
    """Start and steps of the correlator: no statement reads the events table (a host outage
    still opens, extends and clears its incident from the shards' counts)."""
    scenarios._fleet(fleet_db)
    rig = ShardedRig(fleet_db, clock)
    sql: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        sql.append(statement)

    for i in range(40):
        rig.send(f"east-{i:03d}", "fault", "NET.CONNECT_TIMEOUT", at=T0 + timedelta(seconds=i))
    for shard in rig.shards:
        shard.step()
    sa_event.listen(fleet_db.engine, "before_cursor_execute", seen)
    try:
        rig.correlator.step()
        again = DiagnosisService(  # a restarted correlator warms up from the counts too
            fleet_db.sessions,
            rules=load_rules(catalog=default_catalog()),
            catalog=default_catalog(),
            clock=clock,
            role=ShardRole.correlator(),
        )
        again.start()
        clock.advance(601)
        again.step()
    finally:
        sa_event.remove(fleet_db.engine, "before_cursor_execute", seen)
    reads = [q for q in sql if _names_events(q)]
    assert reads == []
    assert any("group_hits" in q for q in sql)
    with fleet_db.sessions() as s:
        (group,) = s.scalars(select(Incident).where(Incident.scope == "host:acq-east"))
    assert (group.status, group.resolved_by) == ("resolved", "rule")
    assert "of 110 terminals on acquirer host acq-east" in group.explanation["reason"]


def _names_events(statement: str) -> bool:
    words = statement.lower().replace('"', " ").replace(",", " ").replace("(", " ").split()
    return "events" in words or any(w.startswith("events.") for w in words)


def test_a_shard_killed_and_restarted_counts_nothing_twice(
    fleet_db: FleetDB, clock: FakeClock
) -> None:
    """kill -9 between a shard's steps: the restarted shard diagnoses again what it had not
    committed and counts each event once; a shard with no saved cursor re-diagnosing recent
    events (another role's first start) adds nothing to the counts either."""
    scenarios._fleet(fleet_db)
    rig = ShardedRig(fleet_db, clock)
    tids = [f"east-{i:03d}" for i in range(40)]
    for tid in tids:
        for k in range(3):
            rig.send(tid, "fault", "NET.CONNECT_TIMEOUT", at=T0 + timedelta(seconds=k))
    rig.step()

    def counts() -> int:
        with fleet_db.sessions() as s:
            return int(
                s.scalar(
                    select(func.sum(GroupHit.hits)).where(GroupHit.rule_id == "network-outage")
                )
                or 0
            )

    assert counts() == 120
    for tid in tids:  # more faults; shard 0 dies before its step commits
        rig.send(tid, "fault", "NET.READ_TIMEOUT", at=T0 + timedelta(seconds=5))
    rig.shards[1].step()
    with fleet_db.sessions.begin() as s:  # shard 0 forgets its cursor: a first start
        from posguard.fleet.db.models import DiagnosisState

        state = s.get(DiagnosisState, "0/2")
        assert state is not None
        s.delete(state)
    restarted = DiagnosisService(
        fleet_db.sessions,
        rules=load_rules(catalog=default_catalog()),
        catalog=default_catalog(),
        clock=clock,
        role=ShardRole.parse(0, 2),
    )
    restarted.start()
    restarted.step()
    assert counts() == 160  # 120 + 40, whatever was diagnosed again
    rig.correlator.step()
    with fleet_db.sessions() as s:
        hosts = s.scalars(select(Incident).where(Incident.terminal_id.is_(None))).all()
    assert [i.scope for i in hosts] == ["host:acq-east"]


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_counts_are_one_row_per_terminal_minute(fleet_db: FleetDB, clock: FakeClock) -> None:
    scenarios._fleet(fleet_db)
    store = EventStore(fleet_db.sessions, catalog=default_catalog(), clock=clock)
    for k in range(5):
        (res,) = store.store(
            [
                event(
                    "east-001",
                    k + 1,
                    kind="fault",
                    code="NET.CONNECT_TIMEOUT",
                    ts=_at(k * 20),
                    merchant_id="M1",
                )
            ],
            transport="test",
        )
        assert res.outcome is Outcome.STORED
    rig = ShardedRig(fleet_db, clock)
    rig.step()
    with fleet_db.sessions() as s:
        rows = s.scalars(select(GroupHit).order_by(GroupHit.bucket)).all()
    assert [(r.hits, r.first["seq"], r.last["seq"]) for r in rows] == [(3, 1, 3), (2, 4, 5)]


def test_old_counts_are_forgotten_and_versions_never_go_back(
    fleet_db: FleetDB, clock: FakeClock
) -> None:
    """The correlator deletes counts a day old, keeping the newest row: versions go on after
    its cursor (SQLite numbers them from the highest one left)."""
    scenarios._fleet(fleet_db)
    rig = ShardedRig(fleet_db, clock)
    for i in range(3):
        rig.send(f"east-{i:03d}", "fault", "NET.CONNECT_TIMEOUT", at=T0 + timedelta(minutes=i))
    rig.step()
    top = rig.correlator.cursor
    clock.advance(2 * 86_400)
    rig.step()  # the clean-up: one row left, the newest
    with fleet_db.sessions() as s:
        assert s.scalars(select(GroupHit.version)).all() == [top]
    rig.send("east-050", "fault", "NET.CONNECT_TIMEOUT", at=clock.now())
    rig.step()
    with fleet_db.sessions() as s:
        newest = s.scalar(select(func.max(GroupHit.version)))
    assert newest is not None
    assert newest > top
    assert rig.correlator.cursor == newest  # read, not skipped
