"""The heartbeat upserts' SQL on both dialects (issue #15): on PostgreSQL one constant statement
over an array per column (``liveness._PG_UPSERT``, ``heartbeat_samples._PG_UPSERT``), on SQLite
SQLAlchemy's multi-row upsert. Both must write the same rows and return the same keys: many
terminals in one call, a heartbeat's ``data`` kept exactly (quotes, backslashes, non-ASCII,
nesting; as the JSON text it arrived in or as a dict), ``interval_s`` absent from every
heartbeat of a call, and never a newer liveness row (or an earlier sample) overwritten."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import HeartbeatSample, TerminalLiveness
from posguard.fleet.diagnosis.shard import slot_of
from posguard.fleet.ingest.store import EventStore, Outcome
from posguard.fleet.repo.heartbeat_samples import bucket_of, upsert_samples
from posguard.fleet.repo.liveness import Heartbeat, upsert_heartbeats

from .conftest import T0, FleetDB, event, register

AWKWARD: dict[str, Any] = {
    "note": 'a "quoted" \\ back\\slash, {braces}, commas, NULL',
    "shop": "上海浦东 café ☕",
    "net": {"carrier": "CMCC", "rssi": -71, "links": ["4g", None, True]},
}
RECEIVED = T0 + timedelta(hours=1)


def _beat(tid: str, seq: int, at_s: float, data: dict[str, Any], *, as_text: bool) -> Heartbeat:
    text = json.dumps(data, ensure_ascii=False, indent=1) if as_text else None
    return Heartbeat(tid, "M01", seq, T0 + timedelta(seconds=at_s), data, text)


def _liveness(db: FleetDB) -> dict[str, TerminalLiveness]:
    with db.sessions() as s:
        return {r.terminal_id: r for r in s.scalars(select(TerminalLiveness))}


def test_liveness_rows_of_many_terminals_keep_their_data_and_only_newer_ones_win(
    fleet_db: FleetDB,
) -> None:
    tids = [f"T{i}" for i in range(1, 6)]
    for tid in tids:
        register(fleet_db, tid)
    first = [
        _beat(tid, 10, 10, {**AWKWARD, "i": i}, as_text=i % 2 == 0) for i, tid in enumerate(tids)
    ]  # no interval_s in any of them: a column of nulls
    with fleet_db.sessions() as s:
        written = upsert_heartbeats(s, first, RECEIVED)
        s.commit()
    assert written == {(tid, 10) for tid in tids}
    rows = _liveness(fleet_db)
    for i, tid in enumerate(tids):
        row = rows[tid]
        assert row.data == {**AWKWARD, "i": i}
        assert (row.seq, row.last_heartbeat_at, row.received_at) == (
            10,
            T0 + timedelta(seconds=10),
            RECEIVED,
        )
        assert row.interval_s is None
        assert (row.merchant_id, row.shard_slot) == ("M01", slot_of(tid))
    # T1 older (not written), T2 same time lower seq (not written), T3 newer with interval_s,
    # T4 same time higher seq: the newer two are written, in one call, given out of order
    second = [
        _beat("T4", 11, 10, {"k": 4}, as_text=True),
        _beat("T1", 9, 5, {"k": 1}, as_text=True),
        _beat("T3", 12, 20, {"k": 3, "interval_s": 30}, as_text=False),
        _beat("T2", 9, 10, {"k": 2}, as_text=False),
    ]
    with fleet_db.sessions() as s:
        written = upsert_heartbeats(s, second, RECEIVED + timedelta(minutes=1))
        s.commit()
    assert written == {("T3", 12), ("T4", 11)}
    rows = _liveness(fleet_db)
    assert (rows["T3"].data, rows["T3"].interval_s, rows["T3"].seq) == (
        {"k": 3, "interval_s": 30},
        30.0,
        12,
    )
    assert rows["T3"].received_at == RECEIVED + timedelta(minutes=1)
    assert (rows["T4"].data, rows["T4"].seq) == ({"k": 4}, 11)
    assert (rows["T1"].seq, rows["T1"].data) == (10, {**AWKWARD, "i": 0})
    assert (rows["T2"].seq, rows["T2"].data) == (10, {**AWKWARD, "i": 1})


def test_samples_of_many_terminals_keep_their_data_and_only_earlier_ones_win(
    fleet_db: FleetDB,
) -> None:
    for tid in ("T1", "T2"):
        register(fleet_db, tid)
    beats = [
        _beat("T1", 5, 50, AWKWARD, as_text=True),
        _beat("T1", 6, 3600 + 5, {"hour": 2}, as_text=False),  # the next period
        _beat("T2", 7, 70, {"k": 2}, as_text=False),
    ]
    with fleet_db.sessions() as s:
        written = upsert_samples(s, beats, RECEIVED, 3600)
        s.commit()
    assert written == {("T1", 5), ("T1", 6), ("T2", 7)}
    later = [
        _beat("T1", 4, 40, {"earlier": True}, as_text=True),  # earlier in T1's first hour: wins
        _beat("T2", 8, 80, {"later": True}, as_text=True),  # later in T2's hour: nothing
    ]
    with fleet_db.sessions() as s:
        written = upsert_samples(s, later, RECEIVED + timedelta(minutes=1), 3600)
        s.commit()
    assert written == {("T1", 4)}
    with fleet_db.sessions() as s:
        got = {
            (r.terminal_id, r.bucket): (r.seq, r.data, r.ts, r.received_at, r.shard_slot)
            for r in s.scalars(select(HeartbeatSample))
        }
    hour = bucket_of(T0, 3600)
    assert got == {
        ("T1", hour): (
            4,
            {"earlier": True},
            T0 + timedelta(seconds=40),
            RECEIVED + timedelta(minutes=1),
            slot_of("T1"),
        ),
        ("T1", hour + timedelta(hours=1)): (
            6,
            {"hour": 2},
            T0 + timedelta(seconds=3605),
            RECEIVED,
            slot_of("T1"),
        ),
        ("T2", hour): (7, {"k": 2}, T0 + timedelta(seconds=70), RECEIVED, slot_of("T2")),
    }


def test_ingest_stores_a_heartbeats_data_as_sent(fleet_db: FleetDB, clock: FakeClock) -> None:
    """Through the store: the heartbeat's JSON text as it arrived (escapes, spacing) is the
    liveness row's and the sample's ``data``, equal to what was sent."""
    register(fleet_db, "T1")
    store = EventStore(fleet_db.sessions, catalog=default_catalog(), clock=clock)
    beat = event("T1", 3, kind="heartbeat", ts=T0, data={**AWKWARD, "interval_s": 60})
    raw = json.dumps(beat, ensure_ascii=True, indent=2).encode()
    [result] = store.store([raw], transport="test")
    assert result.outcome is Outcome.STORED
    with fleet_db.sessions() as s:
        live = s.get(TerminalLiveness, "T1")
        sample = s.scalars(select(HeartbeatSample)).one()
    assert live is not None
    assert (live.data, live.interval_s) == ({**AWKWARD, "interval_s": 60}, 60.0)
    assert sample.data == {**AWKWARD, "interval_s": 60}
    assert live.last_heartbeat_at == sample.ts == T0.astimezone(UTC)
    assert isinstance(live.received_at, datetime)
