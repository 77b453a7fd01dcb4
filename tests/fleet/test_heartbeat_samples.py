"""The sampled heartbeat history kept at ingest (``heartbeat_samples``), on SQLite and
PostgreSQL: per terminal and sample period the earliest heartbeat by ``(ts, seq)``, written in
the same transaction as the liveness row, so any order of arrival, any split into batches and
any redelivery end with the same rows; the period comes from the store's setting."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.db.models import EventRow, HeartbeatSample, TerminalLiveness
from posguard.fleet.diagnosis.shard import slot_of
from posguard.fleet.ingest import store as store_module
from posguard.fleet.ingest.store import EventStore, Outcome, settled
from posguard.fleet.repo.heartbeat_samples import bucket_of, upsert_samples

from .conftest import T0, FleetDB, event, register, register_in_sql, scratch_url

PERIOD_S = 600  # ten-minute samples: the tests set it smaller than the default hour


def _beats() -> list[dict[str, object]]:
    """Two terminals, a heartbeat every 150 s for an hour (4 per period), with two seqs sharing
    a timestamp (a clock that did not move) to exercise the seq tie-break."""
    out = []
    for tid in ("T1", "T2"):
        for i in range(24):
            at = T0 + timedelta(seconds=150 * i)
            out.append(event(tid, i + 1, kind="heartbeat", ts=at, data={"rtt_ms": i}))
        out.append(event(tid, 100, kind="heartbeat", ts=T0, data={"rtt_ms": 100}))
    return out


def _rows(db: FleetDB) -> list[tuple[str, datetime, datetime, int, Any, int]]:
    with db.sessions() as s:
        return [
            (r.terminal_id, r.bucket, r.ts, r.seq, r.data.get("rtt_ms"), r.shard_slot)
            for r in s.scalars(
                select(HeartbeatSample).order_by(
                    HeartbeatSample.terminal_id, HeartbeatSample.bucket
                )
            )
        ]


def test_earliest_per_period_whatever_the_order_and_batches(
    fleet_db: FleetDB, clock: FakeClock
) -> None:
    register(fleet_db, "T1")
    register(fleet_db, "T2")
    store = EventStore(
        fleet_db.sessions, catalog=default_catalog(), clock=clock, heartbeat_sample_s=PERIOD_S
    )
    beats = _beats()
    results = store.store(beats, transport="test")
    assert all(settled(r) for r in results)
    in_order = _rows(fleet_db)
    # 6 periods of 10 minutes a terminal, each held by its first heartbeat (seq 1 at T0 wins the
    # tie with seq 100 at the same time)
    assert len(in_order) == 12
    for tid, bucket, ts, seq, rtt, slot in in_order:
        assert bucket == bucket_of(ts, PERIOD_S) == ts
        assert seq == rtt + 1
        assert slot == slot_of(tid)
    stored = [r for r in results if r.outcome is Outcome.STORED]
    # the 12 samples and each terminal's newest (its liveness row) are stored, the rest not
    assert len(stored) == 14
    with fleet_db.sessions() as s:
        assert s.get(TerminalLiveness, "T1") is not None

    for seed in (1, 2, 3):
        with fleet_db.sessions.begin() as s:
            s.execute(delete(HeartbeatSample))
        shuffled = beats[:]
        random.Random(seed).shuffle(shuffled)
        for start in range(0, len(shuffled), 7):  # small batches, newest often first
            assert all(settled(r) for r in store.store(shuffled[start : start + 7], transport="t"))
        store.store(shuffled[:10], transport="test")  # a redelivery changes nothing
        assert _rows(fleet_db) == in_order, seed


def test_the_sample_is_written_with_the_liveness_row_or_not_at_all(
    fleet_db: FleetDB, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One transaction: a write that fails after both upserts ran leaves neither row."""
    register(fleet_db, "T1")
    store = EventStore(fleet_db.sessions, catalog=default_catalog(), clock=clock)
    real = upsert_samples

    def then_fail(*args: Any, **kwargs: Any) -> set[tuple[str, int]]:
        assert real(*args, **kwargs) == {("T1", 1)}
        raise RuntimeError("the connection dropped")

    monkeypatch.setattr(store_module, "upsert_samples", then_fail)
    with pytest.raises(RuntimeError, match="dropped"):
        store.store([event("T1", 1, kind="heartbeat")], transport="test")
    assert _rows(fleet_db) == []
    with fleet_db.sessions() as s:
        assert s.get(TerminalLiveness, "T1") is None
    monkeypatch.undo()
    assert [r.outcome for r in store.store([event("T1", 1, kind="heartbeat")], transport="t")] == [
        Outcome.STORED
    ]
    assert len(_rows(fleet_db)) == 1


def test_a_bad_period_is_refused(fleet_db: FleetDB, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="heartbeat_sample_s"):
        EventStore(fleet_db.sessions, catalog=default_catalog(), clock=clock, heartbeat_sample_s=0)


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_the_migration_copies_the_heartbeats_stored_as_events(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Heartbeats stored as events before 0011 become the samples of their hours (the earliest
    of each terminal-hour), read back equal to what ingest writes: ingest then keeps the same
    hour's sample, and the report and the prediction keep their history across the upgrade."""
    with scratch_url(dialect, tmp_path, request, "samples") as url:
        engine = make_engine(url)
        try:
            upgrade(engine, "0010")
            db = FleetDB(url, engine, make_sessionmaker(engine), dialect)
            register_in_sql(engine, "T1")
            rows = [
                {
                    "terminal_id": "T1",
                    "merchant_id": "M01",
                    "seq": seq,
                    "ts": T0 + timedelta(minutes=minutes),
                    "received_at": T0,
                    "kind": kind,
                    "code": None,
                    "data": {"rtt_ms": seq},
                    "shard_slot": slot_of("T1"),
                }
                for seq, minutes, kind in [
                    (2, 30, "heartbeat"),
                    (1, 10, "heartbeat"),  # the earliest of 10:00
                    (3, 70, "heartbeat"),  # 11:00
                    (4, 80, "lifecycle"),  # not a heartbeat
                ]
            ]
            with engine.begin() as c:
                c.execute(insert(EventRow), rows)
            upgrade(engine)
            assert [(r[1], r[3]) for r in _rows(db)] == [
                (T0, 1),
                (T0 + timedelta(hours=1), 3),
            ]
            store = EventStore(db.sessions, catalog=default_catalog(), clock=FakeClock(T0))
            late = event("T1", 9, kind="heartbeat", ts=T0 + timedelta(minutes=20))
            earlier = event("T1", 10, kind="heartbeat", ts=T0 + timedelta(minutes=5))
            assert [r.outcome for r in store.store([late], transport="t")] == [Outcome.STORED]
            store.store([earlier], transport="t")  # replaces the 10:00 sample, no second row
            assert [(r[1], r[3]) for r in _rows(db)] == [
                (T0, 10),
                (T0 + timedelta(hours=1), 3),
            ]
        finally:
            engine.dispose()
