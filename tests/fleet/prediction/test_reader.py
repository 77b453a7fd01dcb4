"""The counters reader on SQLite and PostgreSQL: the last sampled heartbeat *with wear counters*
of each terminal-day (``heartbeat_samples``, as ingest keeps them), heartbeats without them
skipped; incidents per component; replaced parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from posguard.fleet.db.models import Incident
from posguard.fleet.prediction import reader
from posguard.fleet.prediction.visits import Outcome, recently_wasted, record_visit
from posguard.fleet.repo.heartbeat_samples import upsert_samples
from posguard.fleet.repo.liveness import Heartbeat

from ..conftest import FleetDB, register

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _row(tid: str, seq: int, ts: datetime, data: dict[str, object]) -> Heartbeat:
    return Heartbeat(tid, "M01", seq, ts, data)


def test_last_heartbeat_with_counters_per_day(fleet_db: FleetDB) -> None:
    register(fleet_db, "T1")
    register(fleet_db, "T2")
    day0 = NOW - timedelta(days=2)
    rows = [
        _row("T1", 1, day0.replace(hour=1), {"wear": {"card_reads": 10}}),
        _row("T1", 2, day0.replace(hour=20), {"wear": {"card_reads": 50}}),
        _row("T1", 7, day0.replace(hour=20, minute=30), {"wear": {"card_reads": 60}}),  # sampled
        # out: the hour's sample is its earliest heartbeat
        _row("T1", 3, day0.replace(hour=22), {"uptime_s": 5}),  # no counters: skipped
        _row("T1", 4, (day0 + timedelta(days=1)).replace(hour=9), {"wear": {"card_reads": 90}}),
        _row("T1", 5, NOW - timedelta(minutes=5), {"wear": {"card_reads": "lots"}}),  # broken
        _row("T2", 1, day0.replace(hour=3), {"uptime_s": 5}),
        _row("T1", 6, NOW - timedelta(days=9), {"wear": {"card_reads": 1}}),  # before since
    ]
    with fleet_db.sessions.begin() as s:
        upsert_samples(s, rows, NOW, 3600)
    with fleet_db.sessions() as s:
        got = reader.wear_samples(
            s, terminal_ids=["T1", "T2"], since=NOW - timedelta(days=3), until=NOW
        )
    assert list(got) == ["T1"]
    pairs = sorted((smp.ts, smp.counters["card_reads"]) for smp in got["T1"])
    assert [v for _, v in pairs] == [50.0, 90.0]


def test_incidents_per_component_and_replaced_parts(fleet_db: FleetDB) -> None:
    register(fleet_db, "T1")
    with fleet_db.sessions.begin() as s:
        for i, (code, days) in enumerate(
            [("PRN.OVERHEAT", 2), ("PRN.CUTTER_JAM", 5), ("DEV.CARD_READER_FAULT", 40)]
        ):
            s.add(
                Incident(
                    rule_id="r",
                    scope=f"terminal:T1:{i}",
                    code=code,
                    severity="minor",
                    status="resolved",
                    terminal_id="T1",
                    merchant_id="M01",
                    explanation={},
                    opened_at=NOW - timedelta(days=days),
                )
            )
        for when, outcome in (
            (NOW - timedelta(days=20), Outcome.CONFIRMED),
            (NOW - timedelta(days=3), Outcome.CONFIRMED),
            (NOW - timedelta(days=40), Outcome.NOT_CONFIRMED),
        ):
            record_visit(
                s,
                terminal_id="T1",
                component="printer",
                outcome=outcome,
                part_replaced=outcome is Outcome.CONFIRMED,
                visited_at=when,
                recorded_at=NOW,
                performed_by="ops",
                risk=0.9,
                reasons={},
            )
    with fleet_db.sessions() as s:
        assert reader.incident_counts(s, terminal_ids=["T1"], now=NOW) == {"T1": {"printer": 2}}
        assert reader.replaced_parts(s, terminal_ids=["T1"]) == {
            "T1": {"printer": (NOW - timedelta(days=3)).date()}
        }
        assert recently_wasted(s, terminal_ids=["T1"], since=NOW - timedelta(days=30)) == set()
        assert recently_wasted(s, terminal_ids=["T1"], since=NOW - timedelta(days=45)) == {"T1"}
