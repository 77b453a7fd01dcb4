"""The network report (issue 20): its counting rules on hand-made events, and on two weeks of
the light fleet's simulated network history stored through the real ingest into SQLite and
PostgreSQL, where the places the simulation made weak must come out worst, with a
recommendation, and the healthy wired places must not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from posguard.common.events import Link, heartbeat_network
from posguard.fleet.network_report import network_report
from posguard.fleet.network_report.aggregate import Aggregator, GroupKey
from posguard.fleet.network_report.recommend import recommend
from posguard.fleet.network_report.rows import build_row
from posguard.sim.network_history import HistoryResult, play_network_history
from posguard.sim.population import build_estate

from .conftest import FleetDB

UNTIL = datetime(2026, 11, 30, tzinfo=UTC)
T0 = UNTIL - timedelta(days=14)


def test_heartbeat_network_fields_read_leniently() -> None:
    """A malformed field reads as absent; the rest of the heartbeat still counts."""
    net = heartbeat_network(
        {"link": "5g", "carrier": " China Unicom ", "signal_dbm": -200, "rtt_ms": "fast"}
    )
    assert net is not None
    assert (net.link, net.carrier, net.signal_dbm, net.rtt_ms) == (
        Link.G5,
        "China Unicom",
        None,
        None,
    )
    assert heartbeat_network({"link": ["4g"], "failover": "yes"}) is None
    wired = heartbeat_network({"link": "wired", "signal_dbm": -60})
    assert wired is not None
    assert wired.signal_dbm is None


def _feed(acc: Aggregator, tid: str, events: list[tuple[int, str, str | None, dict[str, Any]]]):
    for minute, kind, code, data in events:
        acc.add(tid, "pudong", T0 + timedelta(minutes=minute), kind, code, data)


def test_counting_rules() -> None:
    acc = Aggregator(since=T0, weeks=2)
    hb = {"link": "wifi", "carrier": "CT", "signal_dbm": -80, "rtt_ms": 40, "failover": True}
    _feed(
        acc,
        "T1",
        [
            (0, "transaction", "NET.READ_TIMEOUT", {}),  # before the first heartbeat: its link
            (1, "heartbeat", None, hb),
            (2, "transaction", None, {"outcome": "approved"}),
            (3, "fault", "NET.CONNECTION_RESET", {"during": "sale"}),  # an attempt lost
            (3, "fault", "NET.CONNECTION_RESET", {"host": "primary", "stage": "read"}),  # same
            (4, "fault", "PRN.PAPER_OUT", {}),
            (8 * 24 * 60, "transaction", "NET.CONNECT_TIMEOUT", {}),  # second week
            (8 * 24 * 60 + 1, "heartbeat", None, {**hb, "link": "4g", "signal_dbm": -90}),
            (8 * 24 * 60 + 2, "transaction", None, {}),
        ],
    )
    _feed(acc, "T2", [(5, "transaction", None, {}), (6, "heartbeat", None, {"uptime_s": 1})])
    groups = acc.groups()
    wifi = groups[GroupKey("pudong", "CT", "wifi")]
    assert (wifi.attempts, wifi.timeouts, wifi.resets) == (4, 2, 1)
    assert wifi.weekly_attempts == [3, 1]
    assert wifi.weekly_failures == [2, 1]
    assert (wifi.weak, wifi.signal_reports, wifi.failover, wifi.rtts) == (1, 1, 1, {40.0: 1})
    mobile = groups[GroupKey("pudong", "CT", "4g")]
    assert (mobile.attempts, mobile.weak) == (1, 0)
    unknown = groups[GroupKey("pudong", "unknown", "unknown")]
    assert unknown.attempts == 1
    assert unknown.terminals == {"T2"}


def test_better_carrier_is_named() -> None:
    """A poor place told to switch names the carrier that does better on the same link there."""
    acc = Aggregator(since=T0, weeks=1)
    for tid, carrier, failures in (("A", "CM", 40), ("B", "CU", 2)):
        hb = {"link": "4g", "carrier": carrier, "signal_dbm": -95}
        events = [(0, "heartbeat", None, hb)]
        events += [(1, "transaction", None, {})] * (1000 - failures)
        events += [(2, "transaction", "NET.READ_TIMEOUT", {})] * failures
        _feed(acc, tid, events)
    groups = acc.groups()
    key = GroupKey("pudong", "CM", "4g")
    row = build_row(key, groups[key], fleet_per_1000=21.0, peers=groups)
    # 40/1000 is not twice the fleet's 21: fine by the fleet's standard, nothing to switch
    assert row.recommendation.code == "ok"
    row = build_row(key, groups[key], fleet_per_1000=5.0, peers=groups)
    assert row.recommendation.code == "switch_carrier"
    assert "CU" in row.recommendation.en
    assert "CU" in row.recommendation.zh


def test_trend_over_weeks() -> None:
    from posguard.fleet.network_report.rows import _trend

    assert _trend([2.0, 2.5, 6.0]) == "worse"
    assert _trend([6.0, 5.0, 2.0]) == "better"
    assert _trend([3.0, 3.5, 3.2]) == "steady"
    assert _trend([None, 3.0]) is None  # one week with enough attempts is no trend
    assert _trend([3.0, 4.0, None]) is None  # nor is a quiet last week


@pytest.mark.parametrize(
    ("link", "weak", "code"),
    [
        ("4g", 0.5, "antenna_or_backup"),
        ("5g", 0.0, "second_carrier_backup"),
        ("wifi", 0.5, "access_point"),
        ("wifi", 0.0, "wired_backup"),
        ("wired", None, "line_check"),
        ("unknown", None, "report_link"),
    ],
)
def test_recommendation_per_link(link: str, weak: float | None, code: str) -> None:
    rec = recommend(
        link=link,
        attempts=2000,
        failures=40,
        fleet_per_1000=3.0,
        rtt_p95_ms=200.0,
        weak_share=weak,
        better_carrier=None,
        enough_data=True,
    )
    assert rec.code == code
    assert rec.zh
    assert rec.en


@pytest.fixture(scope="module")
def history_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, HistoryResult]]:
    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.db.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('net') / 'fleet.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    estate = build_estate(terminals=24, seed=5)
    result = play_network_history(sessions, estate, until=UNTIL, weeks=2, seed=5, txn_per_hour=3)
    yield sessions, result
    engine.dispose()


def _weak_places(result: HistoryResult, estate_seed: int = 5) -> set[tuple[str, str, str]]:
    """The (area, carrier, link) of every mobile terminal the simulation put in a weak spot."""
    estate = build_estate(terminals=24, seed=estate_seed)
    net = result.network
    names = net.link_names()
    out = set()
    for i, t in enumerate(estate.terminals):
        carrier = ("China Mobile", "China Unicom", "China Telecom")[int(net.carrier[i])]
        if (t.area, carrier) in net.weak_spots and names[i] in ("4g", "5g"):
            out.add((t.area, carrier, names[i]))
    return out


def _check_history_report(sessions: Any, result: HistoryResult) -> None:
    assert result.rejected == 0
    # hourly heartbeats: each is the sample of its hour (heartbeat_samples) and so stored, like
    # every transaction and fault (events)
    assert result.stored == result.events
    with sessions() as s:
        report = network_report(s, now=UNTIL, weeks=2)
    weak = _weak_places(result)
    assert weak, "the simulation put no mobile terminal in a weak spot"
    rows = {(r.area, r.carrier, r.link): r for r in report.rows}
    enough = [r for r in report.rows if r.enough_data]
    # the weak places come first, each with a recommendation that is not "fine"
    top = {(r.area, r.carrier, r.link) for r in enough[: len(weak)]}
    assert top == weak
    for place in weak:
        row = rows[place]
        assert row.failures_per_1000 > 2 * report.fleet_failures_per_1000
        assert row.recommendation.code in {
            "antenna_or_backup",
            "switch_carrier",
            "second_carrier_backup",
        }
        assert row.weak_signal_share is not None
        assert row.weak_signal_share > 0.3
    flagged = {
        (r.area, r.carrier, r.link)
        for r in report.rows
        if r.recommendation.code not in ("ok", "too_little_data")
    }
    assert flagged == weak  # nothing else is taken to the provider
    # a healthy wired place is left alone, and has no signal figure
    wired = [r for r in enough if r.link == "wired"]
    assert wired
    assert all(r.recommendation.code == "ok" for r in wired)
    assert all(r.weak_signal_share is None for r in wired)
    # the counts add up to the simulation's own: every sale attempt is counted once
    assert sum(r.attempts for r in report.rows) == report.fleet_attempts
    p50 = np.array([r.rtt_p50_ms for r in enough if r.rtt_p50_ms is not None])
    assert p50.size
    assert (p50 > 10).all()
    assert (p50 < 1000).all()


def test_simulated_history_ranks_weak_places_first(history_sqlite: tuple[Any, Any]) -> None:
    _check_history_report(*history_sqlite)


def test_merchant_sees_only_its_terminals(history_sqlite: tuple[Any, Any]) -> None:
    sessions, _ = history_sqlite
    estate = build_estate(terminals=24, seed=5)
    merchant = estate.terminals[0].merchant_id
    own = {t.terminal_id for t in estate.terminals if t.merchant_id == merchant}
    with sessions() as s:
        full = network_report(s, now=UNTIL, weeks=2)
        mine = network_report(s, now=UNTIL, weeks=2, merchant_id=merchant)
    assert mine.fleet_failures_per_1000 == full.fleet_failures_per_1000  # judged by the fleet
    assert 0 < sum(r.terminals for r in mine.rows) <= len(own)
    assert sum(r.attempts for r in mine.rows) < full.fleet_attempts


def test_weeks_out_of_range_refused(history_sqlite: tuple[Any, Any]) -> None:
    sessions, _ = history_sqlite
    with sessions() as s, pytest.raises(ValueError, match=r"weeks must be 1\.\.26"):
        network_report(s, now=UNTIL, weeks=0)


@pytest.mark.postgres
def test_same_report_on_postgres_and_sqlite(pg_db: FleetDB, sqlite_db: FleetDB) -> None:
    """The same simulated week, stored in each database, gives the same report (order, JSON
    data, time zones and week bins read alike on both dialects)."""
    estate = build_estate(terminals=16, seed=9)
    reports = []
    for db in (sqlite_db, pg_db):
        play_network_history(db.sessions, estate, until=UNTIL, weeks=1, seed=9, txn_per_hour=1)
        with db.sessions() as s:
            reports.append(network_report(s, now=UNTIL, weeks=1))
    assert reports[0].rows
    assert reports[0] == reports[1]


def test_network_history_from_the_command_line(sqlite_db: FleetDB) -> None:
    """`posguard sim network-history` fills a fleet database the report can read."""
    from typer.testing import CliRunner

    from posguard.cli import app

    result = CliRunner().invoke(
        app,
        [
            "sim",
            "network-history",
            "--db",
            sqlite_db.url,
            "--terminals",
            "8",
            "--weeks",
            "1",
            "--txn-per-hour",
            "1",
            "--lang",
            "en",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "(0 rejected)" in result.output
    with sqlite_db.sessions() as s:
        report = network_report(s, now=datetime.now(UTC), weeks=1)
    assert report.fleet_attempts > 0
    assert {r.link for r in report.rows} <= {"wired", "wifi", "4g", "5g"}
