"""A shard counts each event once whatever order its terminal's events are stored in (issue #15):
two ingest workers share the MQTT subscription, so a terminal's seq 11 can be stored before its
seq 10; ``group_hits`` keeps the sequence numbers it counted (``counted_seqs``, migration 0016)
instead of only the highest, so the late one is counted and a replay still counts nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import DateTime, Engine, bindparam, func, inspect, select, text

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import downgrade, upgrade
from posguard.fleet.db.models import DiagnosisState, EventRow, GroupHit, Incident
from posguard.fleet.diagnosis.correlation import CorrelationEvaluator
from posguard.fleet.diagnosis.directory import TerminalDirectory
from posguard.fleet.diagnosis.engine import DiagnosisEngine
from posguard.fleet.diagnosis.group_hits import MAX_COUNTED, HitRow, bucket_of, collect, with_seqs
from posguard.fleet.diagnosis.observed import Observed
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.service import DiagnosisService
from posguard.fleet.diagnosis.shard import ShardRole
from posguard.fleet.ingest.store import Outcome
from posguard.fleet.repo import group_hits as hits_repo
from posguard.fleet.testing import scratch_pg_schema

from .conftest import T0, FleetDB, event
from .test_correlation import tiny_host
from .test_shards_counts import ShardedRig

RULE = "network-outage"


def _correlations() -> list[CorrelationEvaluator]:
    engine = DiagnosisEngine(
        load_rules(catalog=default_catalog()),
        catalog=default_catalog(),
        clock=FakeClock(T0),
        directory=TerminalDirectory(),
    )
    return engine.correlations


def _fault(seq: int, *, event_id: int, at: datetime = T0) -> Observed:
    return Observed(event_id, "T1", "M01", seq, at, "fault", "NET.CONNECT_REFUSED")


def _stored(seq_hw: int, counted_seqs: list[int] | None) -> HitRow:
    first = _fault(seq_hw, event_id=1)
    return HitRow(RULE, "T1", bucket_of(T0), "", seq_hw, 1, first, first, counted_seqs=counted_seqs)


def _after(stored: HitRow, *events: Observed) -> HitRow:
    (row,) = collect(_correlations(), events, {stored.key: stored})
    return row


def test_a_late_event_is_counted_and_a_replayed_one_is_not() -> None:
    """Stored row: seq 11 counted. Then seq 11 again (a replay) and seq 10 (stored late)."""
    row = _after(_stored(11, [11]), _fault(11, event_id=1), _fault(10, event_id=2))
    assert (row.rule_id, row.hits, row.counted_seqs) == (RULE, 1, [10])
    assert row.first is not None
    assert row.first.seq == 10


def test_a_row_without_its_set_keeps_the_high_water_rule() -> None:
    """A row written before migration 0016 (or past MAX_COUNTED events): an event at or below its
    highest sequence number counts as counted (the rule it was written under), above is new."""
    row = _after(_stored(11, None), _fault(10, event_id=2), _fault(12, event_id=3))
    assert (row.hits, row.seq_hw) == (1, 12)
    assert row.last is not None
    assert row.last.seq == 12
    assert with_seqs(None, [12]) is None  # merged into the stored row: no set starts again


def test_the_set_is_bounded() -> None:
    """Past MAX_COUNTED events of one rule, terminal and minute the row keeps no set."""
    events = [
        _fault(seq, event_id=seq, at=T0 + timedelta(seconds=seq * 0.4))
        for seq in range(1, MAX_COUNTED + 2)
    ]
    (row,) = collect(_correlations(), events[:MAX_COUNTED])
    assert row.counted_seqs == list(range(1, MAX_COUNTED + 1))
    (more,) = collect(_correlations(), events)
    assert (more.hits, more.counted_seqs, more.seq_hw) == (MAX_COUNTED + 1, None, MAX_COUNTED + 1)


def _store(rig: ShardedRig, tid: str, seq: int, seconds: float) -> None:
    at = T0 + timedelta(seconds=seconds)
    rig.clock.set(max(rig.clock.now(), at))
    fault = event(tid, seq, kind="fault", code="NET.CONNECT_REFUSED", ts=at, merchant_id="M1")
    (res,) = rig.store.store([fault], transport="test")
    assert res.outcome is Outcome.STORED, res.reason


def _rows(db: FleetDB) -> dict[str, tuple[int, list[int] | None]]:
    with db.sessions() as s:
        rows = s.scalars(select(GroupHit).where(GroupHit.rule_id == RULE)).all()
        return {r.terminal_id: (r.hits, r.counted_seqs) for r in rows}


def test_events_stored_out_of_order_all_count_and_a_replay_adds_none(
    fleet_db: FleetDB, clock: FakeClock
) -> None:
    """A host only two terminals use is unreachable when each failed twice (``count: 2``). Each
    terminal's seq 11 is stored and counted first, then its seq 10: with only a high-water mark
    seq 10 was taken for counted already and the host incident never opened."""
    tiny_host(fleet_db)
    rig = ShardedRig(fleet_db, clock)
    _store(rig, "tiny-0", 11, 0)
    _store(rig, "tiny-1", 11, 1)
    rig.step()
    assert rig.incidents() == []
    _store(rig, "tiny-0", 10, 2)
    _store(rig, "tiny-1", 10, 3)
    rig.step()
    assert _rows(fleet_db) == {"tiny-0": (2, [10, 11]), "tiny-1": (2, [10, 11])}
    (net,) = (c for c in rig.correlator.engine.correlations if c.rule.id == RULE)
    assert dict(net.groups[("acquirer_host", "acq-tiny")].hits) == {"tiny-0": 2, "tiny-1": 2}
    (group,) = [i for i in rig.incidents() if i.terminal_id is None]
    assert (group.scope, group.status) == ("host:acq-tiny", "open")
    assert "all 2 terminals on acquirer host acq-tiny" in group.explanation["reason"]

    with fleet_db.sessions.begin() as s:  # both shards restart without a cursor: a replay
        for key in ("0/2", "1/2"):
            state = s.get(DiagnosisState, key)
            assert state is not None
            s.delete(state)
    rules, catalog = load_rules(catalog=default_catalog()), default_catalog()
    with fleet_db.sessions() as s:
        first = s.scalar(select(func.min(EventRow.id)))
    assert first is not None
    for k in (0, 1):
        again = DiagnosisService(
            fleet_db.sessions, rules=rules, catalog=catalog, clock=clock, role=ShardRole.parse(k, 2)
        )
        again.start()
        assert again.cursor == first - 1  # it reads every event again
        again.step()
    rig.correlator.step()
    assert _rows(fleet_db) == {"tiny-0": (2, [10, 11]), "tiny-1": (2, [10, 11])}
    with fleet_db.sessions() as s:
        groups = s.scalars(select(Incident.scope).where(Incident.terminal_id.is_(None))).all()
    assert groups == ["host:acq-tiny"]


@pytest.fixture(params=["sqlite", "postgres"])
def bare_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no revision yet) on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fleet.db'}"
        return
    request.applymarker(pytest.mark.postgres)
    with scratch_pg_schema(request.getfixturevalue("postgres_url"), "hits") as url:
        yield url


def _seed_0015(engine: Engine) -> None:
    """A row as revision 0015 writes it: east-001 counted seq 11, in the minute of T0."""
    first = '{"id": 7, "seq": 11, "ts": "' + T0.isoformat() + '", "kind": "fault", "code": null}'
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO group_hits (rule_id, terminal_id, bucket, bin6, shard, seq_hw, hits, "
                "tries, first, last, tried_at, tried_id, version, updated_at) VALUES (:r, "
                "'east-001', :b, '', '0/2', 11, 1, 0, :f, :f, NULL, 0, 1, :b)"
            ).bindparams(bindparam("b", type_=DateTime(timezone=True))),  # as SQLite stores it
            {"r": RULE, "b": bucket_of(T0), "f": first},
        )


def test_the_migration_keeps_the_rows_counted_before_it_and_goes_back_down(
    bare_url: str,
) -> None:
    engine = make_engine(bare_url)
    try:
        upgrade(engine, "0015")
        _seed_0015(engine)
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        late = Observed(8, "east-001", "M1", 10, T0, "fault", "NET.CONNECT_REFUSED")
        new = Observed(9, "east-001", "M1", 12, T0, "fault", "NET.CONNECT_REFUSED")
        with sessions.begin() as s:
            written = hits_repo.publish(s, _correlations(), [late, new], shard="0/2", now=T0)
        assert written == 1
        with sessions() as s:
            (row,) = s.scalars(select(GroupHit)).all()
            # the old row keeps its rule: seq 10 <= 11 counts as counted, 12 is new
            assert (row.hits, row.seq_hw, row.counted_seqs) == (2, 12, None)
            assert (row.first or {})["seq"] == 11
        downgrade(engine, "0015")
        assert "counted_seqs" not in {c["name"] for c in inspect(engine).get_columns("group_hits")}
        with engine.connect() as c:
            assert c.execute(text("SELECT hits, seq_hw FROM group_hits")).all() == [(2, 12)]
        upgrade(engine)  # and up again
    finally:
        engine.dispose()
