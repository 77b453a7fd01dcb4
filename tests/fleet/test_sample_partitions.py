"""heartbeat_samples partitioned by day on PostgreSQL like events (issue #15, revision 0013):
the migration keeps the samples stored before it and goes back down to one plain table; the
maintenance command creates the sample days ahead and drops those past retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.engine import make_engine
from posguard.fleet.db.migrate import downgrade, upgrade
from posguard.fleet.db.partitions import (
    SAMPLES,
    create_day,
    day_partitions,
    default_partition,
    is_partitioned,
    maintain,
    partition_name,
)
from posguard.fleet.ingest.store import EventStore, Outcome
from posguard.fleet.testing import scratch_pg_schema

from .conftest import FleetDB, event, register, register_in_sql
from .test_partitions import _cli

TODAY = datetime.now(UTC).date()
pytestmark = pytest.mark.postgres


def _beat(db: FleetDB, seq: int, ts: datetime) -> None:
    store = EventStore(db.sessions, catalog=default_catalog(), clock=FakeClock(ts))
    (r,) = store.store([event("T1", seq, kind="heartbeat", ts=ts)], transport="test")
    assert r.outcome is Outcome.STORED


def _homes(db: FleetDB) -> list[tuple[int, str]]:
    with db.engine.connect() as c:
        return [
            (int(seq), str(home))
            for seq, home in c.execute(
                text("SELECT seq, tableoid::regclass::text FROM heartbeat_samples ORDER BY seq")
            )
        ]


def _midnight(days: int) -> datetime:
    return datetime.combine(TODAY + timedelta(days=days), datetime.min.time(), UTC)


def test_samples_go_to_their_day_and_maintenance_keeps_the_days(pg_db: FleetDB) -> None:
    register(pg_db, "T1")
    old = TODAY - timedelta(days=40)
    with pg_db.engine.begin() as c:
        assert is_partitioned(c, SAMPLES)
        create_day(c, old, SAMPLES)
    _beat(pg_db, 1, _midnight(-40) + timedelta(hours=2))
    _beat(pg_db, 2, _midnight(0) + timedelta(hours=1))
    _beat(pg_db, 3, _midnight(12) + timedelta(hours=1))  # no day yet: the default partition
    _beat(pg_db, 4, _midnight(-35))  # no day, past retention: deleted from the default
    assert _homes(pg_db) == [
        (1, partition_name(old, SAMPLES)),
        (2, partition_name(TODAY, SAMPLES)),
        (3, default_partition(SAMPLES)),
        (4, default_partition(SAMPLES)),
    ]

    report = maintain(pg_db.engine, today=TODAY, ahead_days=12, retention_days=30)
    assert report.samples_dropped == [old]
    assert TODAY + timedelta(days=12) in report.samples_created
    assert report.samples_deleted == 1
    assert _homes(pg_db) == [  # the old day went whole; the stray moved into its new day
        (2, partition_name(TODAY, SAMPLES)),
        (3, partition_name(TODAY + timedelta(days=12), SAMPLES)),
    ]
    with pg_db.engine.connect() as c:
        days = day_partitions(c, SAMPLES)
    assert min(days) == TODAY - timedelta(days=1)
    assert max(days) == TODAY + timedelta(days=12)
    again = maintain(pg_db.engine, today=TODAY, ahead_days=12, retention_days=30)
    assert (again.samples_created, again.samples_dropped, again.samples_deleted) == ([], [], 0)


def test_the_command_says_what_it_did_to_the_sample_days(pg_db: FleetDB) -> None:
    first = _cli("--db", pg_db.url, "--ahead", "9")
    assert first.returncode == 0, first.stderr
    day = (TODAY + timedelta(days=9)).isoformat()
    line = next(
        x for x in first.stdout.splitlines() if x.startswith("heartbeat sample days created")
    )
    assert line.endswith(day)
    second = _cli("--db", pg_db.url, "--ahead", "9")
    assert "heartbeat sample days created: none" in second.stdout
    assert "heartbeat sample days dropped (past retention): none" in second.stdout


def test_the_migration_keeps_the_samples_and_goes_back_down(postgres_url: str) -> None:
    with scratch_pg_schema(postgres_url, "samples") as url:
        engine = make_engine(url)
        try:
            upgrade(engine, "0012")
            _seed_0012(engine)
            upgrade(engine)
            with engine.connect() as c:
                assert is_partitioned(c, SAMPLES)
                homes = dict(
                    c.execute(
                        text("SELECT seq, tableoid::regclass::text FROM heartbeat_samples")
                    ).all()
                )
                assert c.scalar(text("SELECT count(*) FROM group_hits")) == 0
            assert homes == {
                1: partition_name(TODAY, SAMPLES),
                2: partition_name(TODAY - timedelta(days=3), SAMPLES),
                3: default_partition(SAMPLES),
            }
            downgrade(engine, "0012")
            with engine.connect() as c:
                assert not is_partitioned(c, SAMPLES)
                seqs = sorted(c.scalars(text("SELECT seq FROM heartbeat_samples")))
                assert seqs == [1, 2, 3]
                left = c.scalars(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                        "AND (tablename LIKE 'heartbeat_samples_%' OR tablename = 'group_hits')"
                    )
                ).all()
                assert left == []
            upgrade(engine)  # and up again
            with engine.connect() as c:
                assert is_partitioned(c, SAMPLES)
                assert c.scalar(text("SELECT count(*) FROM heartbeat_samples")) == 3
        finally:
            engine.dispose()


def _seed_0012(engine: Engine) -> None:
    """A terminal and three samples as revision 0012 stores them (one plain table): today,
    three days ago (a day with rows gets its partition), and 90 days ago (the default)."""
    register_in_sql(engine, "T1")
    with engine.begin() as c:
        for seq, days in ((1, 0), (2, -3), (3, -90)):
            at = _midnight(days) + timedelta(hours=1)
            c.execute(
                text(
                    "INSERT INTO heartbeat_samples (terminal_id, bucket, merchant_id, ts, seq, "
                    "data, shard_slot, received_at) VALUES ('T1', :b, 'M01', :t, :s, '{}', 1, :t)"
                ),
                {"b": at, "t": at, "s": seq},
            )
