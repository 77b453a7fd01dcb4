"""The network report from its daily rollup (issue 20) gives the figures of one pass over the
window's data, to the last digit (RTT percentiles included: the rollup keeps every sampled RTT
with its count): on two weeks of the light fleet's simulated history stored through the real
ingest, plus hand-made edge cases (a terminal that changes carrier within a day, one whose
first heartbeat of the window comes days after its first sale, late events for a day already
rolled up), for the fleet and for one merchant, before and after the rollup ran, and after it
ran again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import NetworkDaily, NetworkDailyDay, NetworkHourly
from posguard.fleet.ingest.store import EventStore, Outcome
from posguard.fleet.network_report import network_report
from posguard.fleet.network_report.rollup import (
    HOUR_GRACE,
    build_day,
    count_day,
    current_days,
    current_hours,
    current_spans,
    hour_start,
    roll_up,
    write,
)
from posguard.fleet.network_report.source import pieces
from posguard.sim.network_history import play_network_history
from posguard.sim.population import build_estate

from .conftest import FleetDB

UNTIL = datetime(2026, 11, 30, tzinfo=UTC)
NOW = UNTIL + timedelta(hours=5, minutes=13)  # not on a day: partial days at both ends


def _store(db: FleetDB, events: list[dict[str, Any]], now: datetime) -> None:
    store = EventStore(db.sessions, catalog=default_catalog(), clock=FakeClock(now))
    results = store.store(events, transport="test")
    assert all(r.outcome is Outcome.STORED for r in results), results


def _ev(
    t: Any, seq: int, ts: datetime, kind: str, code: str | None, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "terminal_id": t.terminal_id,
        "merchant_id": t.merchant_id,
        "seq": seq,
        "ts": ts.isoformat(),
        "kind": kind,
        "code": code,
        "data": data,
    }


def _edge_cases(db: FleetDB, estate: Any) -> None:
    """Traffic the simulation does not make, on one of its terminals (seqs above its own)."""
    a = estate.terminals[0]
    day = datetime(2026, 11, 20, tzinfo=UTC)
    hb = {"link": "4g", "carrier": "Carrier X", "signal_dbm": -112.0, "rtt_ms": 333.3}
    sale = {"outcome": "approved"}
    _store(
        db,
        [  # a changes carrier twice within one day, with sales and failures in between
            _ev(a, 10**6, day + timedelta(hours=3), "heartbeat", None, hb),
            _ev(a, 10**6 + 1, day + timedelta(hours=3, minutes=31), "transaction", None, sale),
            _ev(
                a,
                10**6 + 2,
                day + timedelta(hours=3, minutes=32),
                "transaction",
                "NET.READ_TIMEOUT",
                sale,
            ),
            _ev(
                a,
                10**6 + 3,
                day + timedelta(hours=3, minutes=33),
                "fault",
                "NET.CONNECTION_RESET",
                {"during": "sale"},
            ),
        ],
        NOW,
    )


def _same(db: FleetDB, weeks: int, merchant: str | None) -> None:
    with db.sessions() as s:
        raw = network_report(s, now=NOW, weeks=weeks, merchant_id=merchant, rollup=False)
        rolled = network_report(s, now=NOW, weeks=weeks, merchant_id=merchant)
    assert raw.rows
    assert rolled == raw


def test_rollup_gives_the_figures_of_one_pass(sqlite_db: FleetDB) -> None:
    estate = build_estate(terminals=24, seed=5)
    play_network_history(sqlite_db.sessions, estate, until=UNTIL, weeks=3, seed=5, txn_per_hour=2)
    _edge_cases(sqlite_db, estate)
    merchant = estate.terminals[0].merchant_id
    # nothing rolled up yet: every piece counted from the data
    for weeks in (1, 2):
        _same(sqlite_db, weeks, None)
    built = roll_up(sqlite_db.sessions, NOW, days=30)
    assert len(built.days) == 30
    assert len(built.hours) == 5  # today's ended hours (00:00-05:00; 05:00 is still open)
    with sqlite_db.sessions() as s:
        whole = [p.day for p in pieces(NOW - timedelta(days=14), NOW, 2) if p.day is not None]
        assert len(current_days(s, whole)) == len(whole) >= 11  # the report reads them
        rows = s.scalar(select(func.count()).select_from(NetworkDaily))
        assert rows is not None
        assert rows >= 24 * 20
    with sqlite_db.sessions() as s:
        report = network_report(s, now=NOW, weeks=2)
    assert any(r.carrier == "Carrier X" for r in report.rows)  # the edge case is in the window
    for weeks in (1, 2, 3):
        _same(sqlite_db, weeks, None)
        _same(sqlite_db, weeks, merchant)
    # run again: nothing is stale, nothing changes
    assert roll_up(sqlite_db.sessions, NOW, days=30) == ([], [])


def test_late_events_make_a_day_stale_until_rebuilt(fleet_db: FleetDB) -> None:
    """On SQLite and PostgreSQL (the marks' upserts, JSON RTTs and day keys of each)."""
    estate = build_estate(terminals=12, seed=7)
    play_network_history(fleet_db.sessions, estate, until=UNTIL, weeks=2, seed=7, txn_per_hour=2)
    roll_up(fleet_db.sessions, NOW, days=20)
    t = estate.terminals[3]
    late_day = datetime(2026, 11, 25, 10, tzinfo=UTC)
    failures = [
        _ev(t, 10**6 + i, late_day + timedelta(minutes=i), "transaction", "NET.READ_TIMEOUT", {})
        for i in range(40)
    ]
    # a terminal whose first heartbeat of a window comes days after its first sales
    quiet = estate.terminals[4]
    early = datetime(2026, 11, 16, 1, tzinfo=UTC)
    failures.append(_ev(quiet, 10**6, early, "transaction", None, {}))
    _store(fleet_db, failures, NOW)
    with fleet_db.sessions() as s:
        stale = {late_day.date(), early.date()}
        assert not stale & current_days(s, stale)
    _same(fleet_db, 2, None)  # counted from the data meanwhile: the late failures are in
    with fleet_db.sessions() as s:
        raw = network_report(s, now=NOW, weeks=2, rollup=False)
    assert raw.fleet_attempts > 0
    assert sorted(roll_up(fleet_db.sessions, NOW, days=20).days) == sorted(stale)
    _same(fleet_db, 2, None)
    _same(fleet_db, 2, t.merchant_id)


def test_a_build_cut_short_leaves_the_day_as_it_was(sqlite_db: FleetDB) -> None:
    """Each day is built in one transaction: a build that never commits (the process killed
    before its COMMIT) leaves the old rows and marks, and the next run writes the same rows."""
    estate = build_estate(terminals=8, seed=3)
    play_network_history(sqlite_db.sessions, estate, until=UNTIL, weeks=1, seed=3, txn_per_hour=2)
    roll_up(sqlite_db.sessions, NOW, days=8)

    def snapshot() -> list[tuple[Any, ...]]:
        with sqlite_db.sessions() as s:
            rows = s.execute(
                select(NetworkDaily).order_by(
                    NetworkDaily.day, NetworkDaily.terminal_id, NetworkDaily.part
                )
            ).scalars()
            spans = s.execute(
                select(NetworkHourly).order_by(
                    NetworkHourly.since,
                    NetworkHourly.until,
                    NetworkHourly.terminal_id,
                    NetworkHourly.part,
                )
            ).scalars()
            days = s.execute(
                select(NetworkDailyDay.day, NetworkDailyDay.gen, NetworkDailyDay.built_gen)
            ).all()
            return [
                tuple(sorted((k, str(v)) for k, v in vars(r).items() if not k.startswith("_")))
                for r in [*rows, *spans]
            ] + [tuple(d) for d in days]

    before = snapshot()
    day = (UNTIL - timedelta(days=2)).date()
    with sqlite_db.sessions() as s:
        counted = count_day(s, day)
    assert counted.day_rows
    assert counted.span_rows
    counted.day_rows = counted.day_rows[: len(counted.day_rows) // 2]
    counted.span_rows = counted.span_rows[: len(counted.span_rows) // 2]
    with sqlite_db.sessions() as s:  # killed before its COMMIT
        write(s, counted, NOW)
        s.rollback()
    assert snapshot() == before
    build_day(sqlite_db.sessions, day, NOW)  # a forced rebuild writes the same rows
    assert snapshot() == before


def test_days_cut_mid_day_come_from_the_hourly_rollup(sqlite_db: FleetDB) -> None:
    """Windows whose ends and week boundaries fall mid-day (mid-hour and on the hour): only
    the hours they fall in are counted from the data, every other hour of a cut day and of
    today from ``network_hourly``, and the report is still that of one pass; a late event in
    one of today's built hours makes that hour (only) stale until rebuilt."""
    estate = build_estate(terminals=16, seed=11)
    play_network_history(sqlite_db.sessions, estate, until=UNTIL, weeks=3, seed=11, txn_per_hour=2)
    _edge_cases(sqlite_db, estate)
    for now in (
        UNTIL - timedelta(hours=7, minutes=41),  # the day before UNTIL, late in the day
        UNTIL + timedelta(hours=9),  # on the hour
        NOW,
    ):
        roll_up(sqlite_db.sessions, now, days=25)
        with sqlite_db.sessions() as s:  # the spans the report reads, around each cut
            spans = []
            for k in range(3):
                t = now - timedelta(days=7 * k)
                midnight = datetime.combine(t.date(), datetime.min.time(), UTC)
                cut = t.replace(minute=0, second=0, microsecond=0)
                after = cut + timedelta(hours=1 if t > cut else 0)
                # today: the hours ended 5 minutes ago (the rest from the data)
                spans.append((midnight, cut if k else hour_start(t - HOUR_GRACE)))
                if k > 0:
                    spans.append((after, midnight + timedelta(days=1)))
            assert current_spans(s, spans) == set(spans)
        for weeks in (1, 2):
            with sqlite_db.sessions() as s:
                raw = network_report(s, now=now, weeks=weeks, rollup=False)
                assert network_report(s, now=now, weeks=weeks) == raw
                merchant = estate.terminals[0].merchant_id
                own = network_report(s, now=now, weeks=weeks, merchant_id=merchant)
                assert own == network_report(
                    s, now=now, weeks=weeks, merchant_id=merchant, rollup=False
                )
    # late: a failure in today's first hour, already built
    t = estate.terminals[2]
    late = UNTIL + timedelta(minutes=30)
    _store(sqlite_db, [_ev(t, 10**6, late, "transaction", "NET.READ_TIMEOUT", {})], NOW)
    with sqlite_db.sessions() as s:
        hours = [UNTIL + timedelta(hours=h) for h in range(5)]
        assert current_hours(s, hours) == set(hours[1:])
        raw = network_report(s, now=NOW, weeks=1, rollup=False)
        assert network_report(s, now=NOW, weeks=1) == raw
    assert roll_up(sqlite_db.sessions, NOW, days=25) == ([], [UNTIL])
    _same(sqlite_db, 1, None)
