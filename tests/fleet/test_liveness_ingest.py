"""Heartbeats upsert ``terminal_liveness`` at ingest instead of growing the events table (issue
#15, docs/scaling.md: 83 % of the events). Over every path in (the store, HTTP batches, the MQTT
worker): a heartbeat becomes its terminal's liveness row when it is newer (by time, then seq)
than the row held, never an events row; an older one or a resend changes nothing, in any order
of arrival; and every heartbeat is still confirmed as settled (common/event_ack.py), so the
terminal forgets it. A heartbeat is *stored* when it became the liveness row or the sample of
its period in the sampled history (test_heartbeat_samples.py); otherwise it is a duplicate."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from posguard.catalog import default_catalog
from posguard.common.events import EventKind
from posguard.common.testing import until
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import EventRow, Incident, TerminalLiveness
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.service import DiagnosisService
from posguard.fleet.diagnosis.shard import slot_of
from posguard.fleet.ingest import mqtt_worker
from posguard.fleet.ingest.store import EventStore, Outcome, settled
from posguard.fleet.repo.liveness import Heartbeat, upsert_heartbeats
from posguard.terminal.agent import publish
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.agent.runner import TelemetryAgent

from .conftest import T0, Api, FleetDB, event, register
from .test_mqtt_ingest import _workers


def _beat(seq: int, at_s: float, **data: object) -> dict[str, object]:
    return event("T1", seq, kind="heartbeat", ts=T0 + timedelta(seconds=at_s), data=dict(data))


def _state(db: FleetDB) -> tuple[int, TerminalLiveness | None]:
    with db.sessions() as s:
        n = int(s.scalar(select(func.count()).select_from(EventRow)) or 0)
        return n, s.get(TerminalLiveness, "T1")


def test_newest_heartbeat_wins_in_any_order_and_none_is_an_events_row(
    fleet_db: FleetDB, clock: FakeClock
) -> None:
    register(fleet_db, "T1")
    store = EventStore(fleet_db.sessions, catalog=default_catalog(), clock=clock)

    def send(*beats: dict[str, object]) -> list[Outcome]:
        results = store.store(list(beats), transport="test")
        assert all(settled(r) for r in results)  # every heartbeat is confirmed
        return [r.outcome for r in results]

    assert send(_beat(5, 50, receipts_queued=3, interval_s=30)) == [Outcome.STORED]
    n, row = _state(fleet_db)
    assert n == 0
    assert row is not None
    assert (row.seq, row.last_heartbeat_at, row.interval_s) == (5, T0 + timedelta(seconds=50), 30.0)
    assert row.data["receipts_queued"] == 3
    assert row.shard_slot == slot_of("T1")
    # a resend: nothing new; an older heartbeat arriving late: the row stays, but it is the
    # earliest of its hour so far, so it becomes that hour's sample (stored)
    assert send(_beat(5, 50, receipts_queued=3, interval_s=30)) == [Outcome.DUPLICATE]
    assert send(_beat(4, 40, receipts_queued=99)) == [Outcome.STORED]
    assert send(_beat(4, 40, receipts_queued=99)) == [Outcome.DUPLICATE]
    _, row = _state(fleet_db)
    assert row is not None
    assert row.seq == 5
    assert row.data["receipts_queued"] == 3
    # one batch out of order, in the same hour: only its newest counts as stored (the liveness
    # row), the rest as said nothing new (the hour's sample is still the heartbeat at 40 s)
    assert send(_beat(7, 70, receipts_queued=0), _beat(8, 80, receipts_queued=1), _beat(6, 60)) == [
        Outcome.DUPLICATE,
        Outcome.STORED,
        Outcome.DUPLICATE,
    ]
    n, row = _state(fleet_db)
    assert n == 0
    assert row is not None
    assert (row.seq, row.data) == (8, {"receipts_queued": 1})
    # the other events still are events rows, in the same batch as a heartbeat
    life = event("T1", 9, kind="lifecycle", ts=T0 + timedelta(seconds=90), data={"event": "boot"})
    assert send(life, _beat(10, 91)) == [Outcome.STORED, Outcome.STORED]
    n, row = _state(fleet_db)
    assert n == 1
    assert row is not None
    assert row.seq == 10


def test_http_batch_confirms_its_heartbeats_and_stores_none_as_events(api: Api) -> None:
    beats = [event("T1", s, kind="heartbeat", ts=T0 + timedelta(seconds=s)) for s in (1, 2, 3)]
    r = api.client.post(
        "/api/v1/ingest/batch", json={"events": beats}, headers=api.as_terminal("T1")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["confirmed"] == [[1, 3]]  # the terminal may forget all three
    # the newest is the liveness row, the earliest the hour's sample; the middle one adds nothing
    assert (body["stored"], body["duplicate"]) == (2, 1)
    n, row = _state(api.db)
    assert n == 0
    assert row is not None
    assert row.seq == 3
    again = api.client.post(
        "/api/v1/ingest/batch", json={"events": beats}, headers=api.as_terminal("T1")
    ).json()
    assert again["confirmed"] == [[1, 3]]
    assert again["stored"] == 0


@pytest.mark.mqtt
async def test_mqtt_worker_upserts_liveness_and_the_terminal_forgets_its_heartbeats(
    sqlite_db: FleetDB, mqtt_broker: tuple[str, int], tmp_path: Path
) -> None:
    tid = "T" + uuid.uuid4().hex[:7].upper()
    register(sqlite_db, tid)
    box = Outbox(tmp_path / "outbox.db", tid, "M01")
    for i in range(3):
        box.emit(EventKind.HEARTBEAT, uptime_s=i, interval_s=60, receipts_queued=i)
    box.emit(EventKind.TRANSACTION, type="sale", outcome="approved", stan="000001")
    async with _workers(sqlite_db, mqtt_broker, mqtt_worker.TOPIC_ROOT, 1) as (worker,):
        pub = publish.MqttPublisher(*mqtt_broker, merchant_id="M01", terminal_id=tid)
        try:
            agent = TelemetryAgent(box, pub, heartbeat_interval=None)
            assert await agent.drain_once() == 4
            await until(lambda: box.pending() == 0, timeout=20, what="the confirmation")
        finally:
            await pub.close()
        assert worker.stats.confirmed == 4
    with sqlite_db.sessions() as s:
        kinds = s.scalars(select(EventRow.kind).where(EventRow.terminal_id == tid)).all()
        row = s.get(TerminalLiveness, tid)
    assert kinds == ["transaction"]
    assert row is not None
    assert row.seq == 3
    assert row.data["receipts_queued"] == 2


def test_a_heartbeat_committed_late_is_still_seen_by_the_shard(
    fleet_db: FleetDB, clock: FakeClock
) -> None:
    """A liveness row whose ingest transaction took its time stamp before the newest one the
    diagnoser has read, but committed after it, is still fed to the absence rule (the rows of
    the last ``gap_wait_s`` are read again): the terminal is watched, and goes missing after
    three intervals like any other."""

    for tid in ("T1", "T2"):
        register(fleet_db, tid)
    catalog = default_catalog()
    diag = DiagnosisService(
        fleet_db.sessions, rules=load_rules(catalog=catalog), catalog=catalog, clock=clock
    )
    diag.start()
    store = EventStore(fleet_db.sessions, catalog=catalog, clock=clock)
    clock.advance(10)
    store.store(
        [event("T1", 1, kind="heartbeat", ts=clock.now(), data={"interval_s": 10})], transport="t"
    )
    diag.step()
    # T2's batch took its time stamp 2 s earlier and commits only now
    with fleet_db.sessions.begin() as s:
        late = Heartbeat("T2", "M01", 1, clock.now() - timedelta(seconds=2), {"interval_s": 10})
        upsert_heartbeats(s, [late], clock.now() - timedelta(seconds=2))
    clock.advance(1)
    diag.step()
    clock.advance(35)  # more than three intervals for both
    diag.step()
    with fleet_db.sessions() as s:
        lost = sorted(
            i.terminal_id or ""
            for i in s.scalars(select(Incident).where(Incident.rule_id == "heartbeat-lost"))
        )
    assert lost == ["T1", "T2"]
