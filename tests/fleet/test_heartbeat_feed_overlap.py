"""A diagnoser's heartbeat feed (``fleet/diagnosis/heartbeat_feed.py``) finds a liveness row
whose ingest transaction committed after a later one (its ``received_at`` is older than what the
feed has read), within ``gap_wait / 2`` of that commit, for commits up to ``gap_wait`` late; it
feeds every heartbeat once; and between two re-reads it reads only what is new."""

from __future__ import annotations

from datetime import timedelta

from posguard.fleet.diagnosis.heartbeat_feed import HeartbeatFeed
from posguard.fleet.diagnosis.shard import ShardRole
from posguard.fleet.repo.liveness import Heartbeat, upsert_heartbeats

from .conftest import T0, FleetDB, register

GAP = timedelta(seconds=5)


def _upsert(db: FleetDB, tid: str, seq: int, received_s: float) -> None:
    with db.sessions.begin() as s:
        beat = Heartbeat(tid, "M01", seq, T0 + timedelta(seconds=received_s), {"interval_s": 30})
        upsert_heartbeats(s, [beat], T0 + timedelta(seconds=received_s))


def _fed(db: FleetDB, feed: HeartbeatFeed, now_s: float) -> list[tuple[str, int]]:
    with db.sessions() as s:
        return [(o.terminal_id, o.seq) for o in feed.new(s, T0 + timedelta(seconds=now_s))]


def test_late_commits_found_within_half_the_gap_and_fed_once(fleet_db: FleetDB) -> None:
    for tid in ("T1", "T2", "T3", "T4"):
        register(fleet_db, tid)
    feed = HeartbeatFeed(ShardRole.parse(0, 1), GAP)
    _upsert(fleet_db, "T1", 1, 100.0)
    assert _fed(fleet_db, feed, 100.0) == [("T1", 1)]  # the first read: every row
    assert feed.mark == T0 + timedelta(seconds=100)

    # stamped 4.9 s before the newest read, committed only now: the next re-read finds it
    _upsert(fleet_db, "T2", 1, 95.1)
    assert _fed(fleet_db, feed, 100.2) == [("T2", 1)]

    # between re-reads only rows newer than the mark are read
    _upsert(fleet_db, "T3", 1, 99.0)  # late again
    _upsert(fleet_db, "T4", 1, 101.0)
    assert _fed(fleet_db, feed, 101.0) == [("T4", 1)]
    assert _fed(fleet_db, feed, 102.0) == []
    # gap_wait / 2 after the last re-read: the late row, and nothing fed twice
    assert _fed(fleet_db, feed, 102.7) == [("T3", 1)]
    assert _fed(fleet_db, feed, 105.3) == []

    # a newer heartbeat of a terminal already fed is fed again; an older resend is not
    _upsert(fleet_db, "T1", 2, 106.0)
    assert _fed(fleet_db, feed, 106.0) == [("T1", 2)]
