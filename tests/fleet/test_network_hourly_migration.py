"""Migration 0017 (issue 20) on a database that already holds the daily rollup (seeded at
0015 with SQL, not today's models), on SQLite and PostgreSQL: the hourly tables appear, the days
built before are no longer current (they have no hours), so a report ignores their rows until
the next rollup rebuilds them with their hours; and it downgrades and upgrades again."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import current_revision, downgrade, upgrade
from posguard.fleet.db.models import NetworkDaily, NetworkHourly
from posguard.fleet.network_report import network_report
from posguard.fleet.network_report.rollup import current_days, current_hours, roll_up

from .conftest import scratch_url

DAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 30, 5, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_0017_makes_the_days_built_before_stale(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with scratch_url(dialect, tmp_path, request, "hourly") as url:
        engine = make_engine(url)
        try:
            upgrade(engine, "0015")
            with engine.begin() as c:  # a day rolled up at 0015: 999 attempts, all timeouts
                c.execute(
                    text(
                        "INSERT INTO network_daily (day, terminal_id, part, carrier, link, "
                        "first_ts, first_seq, last_ts, last_seq, attempts, timeouts, resets, "
                        "heartbeats, signal_reports, weak, failover_reports, failover, rtts) "
                        "VALUES (:d, 'T1', 1, 'CM', '4g', :t, 1, :t, 1, 999, 999, 0, 1, 0, 0, "
                        "0, 0, :r)"
                    ),
                    {"d": DAY, "t": datetime(2026, 11, 28, 3, tzinfo=UTC), "r": '{"90.0": 1}'},
                )
                c.execute(
                    text(
                        "INSERT INTO network_daily_days (day, gen, built_gen, built_at) "
                        "VALUES (:d, 2, 2, :t)"
                    ),
                    {"d": DAY, "t": NOW},
                )
            sessions = make_sessionmaker(engine)
            upgrade(engine)
            assert current_revision(engine) == "0017"
            with sessions() as s:
                assert current_days(s, [DAY]) == set()
                assert s.scalar(select(func.count()).select_from(NetworkDaily)) == 1  # kept
                assert network_report(s, now=NOW, weeks=1).fleet_attempts == 0  # not used
            rolled = roll_up(sessions, NOW, days=3)
            assert DAY in rolled.days
            hours = [datetime(2026, 11, 28, h, tzinfo=UTC) for h in range(24)]
            with sessions() as s:
                assert current_days(s, [DAY]) == {DAY}
                assert current_hours(s, hours) == set(hours)
                assert s.scalar(select(func.count()).select_from(NetworkDaily)) == 0
                assert s.scalar(select(func.count()).select_from(NetworkHourly)) == 0
                assert network_report(s, now=NOW, weeks=1).fleet_attempts == 0
            downgrade(engine, "0015")
            assert current_revision(engine) == "0015"
            upgrade(engine)
            with sessions() as s:
                assert current_hours(s, hours) == set()  # dropped with the table
                assert current_days(s, [DAY]) == set()  # its hours went: rebuilt next run
        finally:
            engine.dispose()
