"""Events partitioned by day on PostgreSQL (issue #15, docs/scaling.md "PostgreSQL: the events
table"): migration 0006 turns the table into ``PARTITION BY RANGE (ts)`` keeping the rows already
stored; an event of any time is stored (a day partition, or the default one: never refused for
its clock); ``posguard fleet maintenance partitions`` creates days ahead, moves what the default
partition holds for a day it creates, drops the days past retention, and a second run changes
nothing. Against the real PostgreSQL; SQLite keeps one plain table and says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import downgrade, upgrade
from posguard.fleet.db.partitions import (
    DEFAULT_PARTITION,
    create_day,
    day_partitions,
    is_partitioned,
    maintain,
    partition_name,
)
from posguard.fleet.diagnosis.shard import slot_of
from posguard.fleet.ingest.store import EventStore, Outcome
from posguard.fleet.testing import scratch_pg_schema

from .conftest import T0, FleetDB, event, register

TODAY = datetime.now(UTC).date()


def _where(db: FleetDB, seq: int) -> str:
    """The partition holding event ``seq`` of T1."""
    with db.engine.connect() as c:
        return str(
            c.scalar(text("SELECT tableoid::regclass::text FROM events WHERE seq = :s"), {"s": seq})
        )


def _store(db: FleetDB, seq: int, ts: datetime, kind: str = "lifecycle") -> Outcome:
    store = EventStore(db.sessions, catalog=default_catalog(), clock=FakeClock(ts))
    (r,) = store.store([event("T1", seq, kind=kind, ts=ts)], transport="test")
    return r.outcome


def _sample_times(db: FleetDB) -> list[datetime]:
    with db.engine.connect() as c:
        return list(c.scalars(text("SELECT ts FROM heartbeat_samples ORDER BY ts")))


@pytest.mark.postgres
def test_events_land_in_their_day_or_the_default_partition_never_refused(pg_db: FleetDB) -> None:
    register(pg_db, "T1")
    with pg_db.engine.connect() as c:
        assert is_partitioned(c)
        days = day_partitions(c)
    assert {TODAY + timedelta(days=d) for d in range(-1, 8)} <= set(days)
    now = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=12)
    assert _store(pg_db, 1, now) is Outcome.STORED
    assert _where(pg_db, 1) == partition_name(TODAY)
    wild = datetime(2001, 1, 1, tzinfo=UTC)  # a terminal whose clock lost its battery
    assert _store(pg_db, 2, wild) is Outcome.STORED
    assert _where(pg_db, 2) == DEFAULT_PARTITION
    # the key holds ts, and a resend is the same outbox row with the same ts: stored once
    assert _store(pg_db, 1, now) is Outcome.DUPLICATE
    assert _store(pg_db, 2, wild) is Outcome.DUPLICATE
    with pg_db.engine.connect() as c:
        rows = c.execute(text("SELECT seq, shard_slot FROM events ORDER BY seq")).all()
    assert rows == [(1, slot_of("T1")), (2, slot_of("T1"))]


@pytest.mark.postgres
def test_maintenance_creates_ahead_moves_from_default_drops_past_retention(pg_db: FleetDB) -> None:
    register(pg_db, "T1")
    old = TODAY - timedelta(days=40)
    with pg_db.engine.begin() as c:
        create_day(c, old)
    at = datetime.combine(old, datetime.min.time(), UTC) + timedelta(hours=3)
    assert _store(pg_db, 1, at) is Outcome.STORED
    assert _where(pg_db, 1) == partition_name(old)
    later = TODAY + timedelta(days=10)  # no partition yet: the default one takes it
    at_later = datetime.combine(later, datetime.min.time(), UTC) + timedelta(hours=1)
    assert _store(pg_db, 2, at_later) is Outcome.STORED
    assert _where(pg_db, 2) == DEFAULT_PARTITION
    # the sampled heartbeat history (a plain table) gets the same retention
    kept = datetime.combine(TODAY - timedelta(days=29), datetime.min.time(), UTC)
    for seq, ts in ((3, at), (4, at + timedelta(days=2)), (5, kept)):
        assert _store(pg_db, seq, ts, kind="heartbeat") is Outcome.STORED
    assert len(_sample_times(pg_db)) == 3

    report = maintain(pg_db.engine, today=TODAY, ahead_days=10, retention_days=30)
    assert report.dropped == [old]
    assert later in report.created
    assert TODAY + timedelta(days=9) in report.created
    assert report.moved_from_default == 1
    assert report.default_rows == 0
    assert _where(pg_db, 2) == partition_name(later)  # moved, not lost
    with pg_db.engine.connect() as c:
        days = day_partitions(c)
        assert c.scalar(text("SELECT count(*) FROM events")) == 1  # the old day went whole
    assert old not in days
    assert max(days) == later
    assert report.samples_deleted == 2
    assert _sample_times(pg_db) == [kept]

    again = maintain(pg_db.engine, today=TODAY, ahead_days=10, retention_days=30)
    assert (again.created, again.dropped, again.moved_from_default) == ([], [], 0)
    assert again.samples_deleted == 0
    assert again.days == report.days


@pytest.mark.postgres
def test_the_migration_keeps_the_rows_stored_before_it(postgres_url: str) -> None:
    """Rows stored under revision 0005 (one plain table) are all in the partitioned table after
    0006, each with its terminal's slot, ids kept and the id sequence going on after them."""
    with scratch_pg_schema(postgres_url, "part") as url:
        engine = make_engine(url)
        try:
            upgrade(engine, "0005")
            db = FleetDB(url, engine, make_sessionmaker(engine), "postgresql")
            with engine.begin() as c:  # the tables as 0005 has them, not today's model
                c.execute(
                    text("INSERT INTO merchants (id, name, created_at) VALUES ('M01', 'M', :t)"),
                    {"t": T0},
                )
                for tid in ("T1", "T2"):
                    c.execute(
                        text(
                            "INSERT INTO terminals (id, merchant_id, model, brand, firmware, "
                            "acquirer_host, area, location, credential_hash, revoked, created_at)"
                            " VALUES (:id, 'M01', 'PX-5', 'Acme', '2.1.0', 'acq-east', 'pudong',"
                            " '', :h, false, :t)"
                        ),
                        {"id": tid, "h": tid.ljust(64, "0"), "t": T0},
                    )
            yesterday = datetime.combine(TODAY, datetime.min.time(), UTC) - timedelta(hours=2)
            with engine.begin() as c:
                for i, (tid, ts) in enumerate(
                    [("T1", yesterday), ("T2", yesterday), ("T1", datetime(2001, 1, 1, tzinfo=UTC))]
                ):
                    c.execute(
                        text(
                            "INSERT INTO events (terminal_id, merchant_id, seq, ts, received_at, "
                            "kind, code, data) VALUES (:t, 'M01', :s, :ts, :ts, 'lifecycle', "
                            "NULL, CAST(:d AS json))"
                        ),
                        {"t": tid, "s": i, "ts": ts, "d": json.dumps({"event": "boot"})},
                    )
            upgrade(engine)
            with engine.connect() as c:
                assert is_partitioned(c)
                rows = c.execute(
                    text(
                        "SELECT id, terminal_id, shard_slot, tableoid::regclass::text "
                        "FROM events ORDER BY id"
                    )
                ).all()
                assert [(r[1], r[2]) for r in rows] == [
                    ("T1", slot_of("T1")),
                    ("T2", slot_of("T2")),
                    ("T1", slot_of("T1")),
                ]
                assert rows[0][3] == partition_name((yesterday).date())
                assert rows[2][3] == DEFAULT_PARTITION
            assert _store(db, 9, yesterday) is Outcome.STORED
            with engine.connect() as c:
                assert c.scalar(text("SELECT max(id) FROM events")) > rows[-1][0]
            downgrade(engine, "0005")  # and back to one plain table, rows kept
            with engine.connect() as c:
                assert not is_partitioned(c)
                assert c.scalar(text("SELECT count(*) FROM events")) == 4
        finally:
            engine.dispose()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "posguard.cli", "fleet", "maintenance", "partitions", *args]
    env = {**os.environ, "POSGUARD_FLEET_JWT_SECRET": "x" * 40, "POSGUARD_LANG": "en"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.mark.postgres
def test_the_maintenance_command_runs_and_a_second_run_changes_nothing(pg_db: FleetDB) -> None:
    first = _cli("--db", pg_db.url, "--ahead", "9")
    assert first.returncode == 0, first.stderr
    day = (TODAY + timedelta(days=9)).isoformat()
    created = first.stdout.splitlines()[0]
    assert created.startswith("created: ")
    assert created.endswith(day)
    second = _cli("--db", pg_db.url, "--ahead", "9")
    assert second.returncode == 0, second.stderr
    assert "created: none" in second.stdout
    assert "dropped (past retention): none" in second.stdout
    assert "heartbeat samples deleted (past retention): 0" in second.stdout


def test_on_sqlite_the_command_says_there_is_nothing_to_partition(sqlite_db: FleetDB) -> None:
    out = _cli("--db", sqlite_db.url)
    assert out.returncode == 1
    assert "PostgreSQL feature" in out.stderr
    assert "Traceback" not in out.stderr


def test_partition_names_are_one_per_utc_day() -> None:
    assert partition_name(date(2026, 1, 9)) == "events_p20260109"
