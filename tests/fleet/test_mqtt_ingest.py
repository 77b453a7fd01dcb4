"""MQTT ingest through the local Mosquitto: two workers on one shared subscription store every
event exactly once, whether a message holds one event or an array of them; malformed payloads
and bad elements of an array are counted and dropped while the rest is stored and the workers
carry on; the terminal agent's batch arrives as one array message and is stored whole; remote
commands go out over MQTT and come back as command_result events. A message is acknowledged only
once stored: a store failing with a database error leaves its batch to the broker, which
delivers it again after the worker's back-off, and a stop waits for a store under way."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from posguard.catalog import default_catalog
from posguard.common.errors import EventError
from posguard.common.event_batch import ParsedEvent
from posguard.common.events import EventKind
from posguard.common.testing import until
from posguard.fleet.clock import Clock, SystemClock
from posguard.fleet.db.models import Command, EventRow
from posguard.fleet.ingest import mqtt_worker
from posguard.fleet.ingest.mqtt_worker import (
    MAX_BATCH_EVENTS,
    MAX_BATCH_PAYLOAD_BYTES,
    MqttIngestWorker,
)
from posguard.fleet.ingest.store import EventResult, EventStore
from posguard.fleet.repo.commands import issue_command
from posguard.fleet.repo.terminals import get_terminal
from posguard.terminal.agent import publish
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.agent.runner import TelemetryAgent

from .conftest import FleetDB, event, register

pytestmark = pytest.mark.mqtt


def _malformed(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("posguard_fleet_mqtt_malformed_total", {"reason": reason}) or 0.0
    )


@asynccontextmanager
async def _workers(
    db: FleetDB,
    broker: tuple[str, int],
    root: str,
    n: int,
    *,
    dispatch: bool = False,
    clock: Clock | None = None,
) -> AsyncIterator[list[MqttIngestWorker]]:
    store = EventStore(db.sessions, catalog=default_catalog(), clock=clock or SystemClock())
    group = f"g{uuid.uuid4().hex[:8]}"
    workers = [
        MqttIngestWorker(
            store,
            host=broker[0],
            port=broker[1],
            topic_root=root,
            share_group=group,
            batch_max=200,
            dispatch_commands=dispatch,
            sessions=db.sessions,
            dispatch_every_s=0.1,
        )
        for _ in range(n)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        await asyncio.wait_for(asyncio.gather(*(w.subscribed.wait() for w in workers)), 10)
        yield workers
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


def _count(db: FleetDB) -> int:
    with db.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(EventRow)) or 0)


async def test_two_workers_store_each_event_exactly_once(
    fleet_db: FleetDB, mqtt_broker: tuple[str, int]
) -> None:
    db = fleet_db
    root = f"pgtest-{uuid.uuid4().hex[:8]}/v1"
    terminals = [f"T{i:02d}" for i in range(20)]
    for tid in terminals:
        register(db, tid)
    async with _workers(db, mqtt_broker, root, 2) as workers:
        async with aiomqtt.Client(*mqtt_broker, protocol=aiomqtt.ProtocolVersion.V5) as pub:
            for seq in range(30):
                for tid in terminals:
                    payload = json.dumps(event(tid, seq)).encode()
                    await pub.publish(f"{root}/M01/{tid}/events", payload, qos=1)
            for seq in range(10):  # resends of events already sent
                for tid in terminals:
                    await pub.publish(
                        f"{root}/M01/{tid}/events", json.dumps(event(tid, seq)).encode(), qos=1
                    )
        total = 20 * 40
        await until(
            lambda: sum(w.stats.received for w in workers) >= total, timeout=20, interval=0.05
        )
    assert _count(db) == 600
    assert sum(w.stats.stored for w in workers) == 600
    assert sum(w.stats.duplicate for w in workers) == 200
    assert all(w.stats.received > 0 for w in workers), "the shared subscription splits the load"
    with db.sessions() as s:
        dupes = s.execute(
            select(EventRow.terminal_id, EventRow.seq)
            .group_by(EventRow.terminal_id, EventRow.seq)
            .having(func.count() > 1)
        ).all()
    assert dupes == []


async def test_malformed_payloads_are_counted_and_dropped_without_stopping(
    sqlite_db: FleetDB, mqtt_broker: tuple[str, int]
) -> None:
    db = sqlite_db
    register(db, "T1")
    register(db, "T2")
    root = f"pgtest-{uuid.uuid4().hex[:8]}/v1"
    before = {
        r: _malformed(r)
        for r in (
            "not_json",
            "not_object",
            "topic_mismatch",
            "invalid_event",
            "refused",
            "bad_topic",
        )
    }
    bad = [
        (f"{root}/M01/T1/events", b"\xff\xfe not json"),
        (f"{root}/M01/T1/events", b'"neither an object nor an array"'),
        (f"{root}/M01/T1/events", json.dumps(event("T2", 1)).encode()),  # T1's topic, T2's event
        (
            f"{root}/M01/T1/events",
            json.dumps({**event("T1", 1), "kind": "fault"}).encode(),
        ),  # no code
        (f"{root}/M01/GHOST/events", json.dumps(event("GHOST", 1)).encode()),  # unknown terminal
        (f"{root}/M01/T1/extra/events", json.dumps(event("T1", 1)).encode()),  # wrong topic shape
    ]
    async with _workers(db, mqtt_broker, root, 1) as (worker,):
        async with aiomqtt.Client(*mqtt_broker, protocol=aiomqtt.ProtocolVersion.V5) as pub:
            await pub.publish(f"{root}/M01/T1/events", json.dumps(event("T1", 1)).encode(), qos=1)
            for topic, payload in bad:
                await pub.publish(topic, payload, qos=1)
            await pub.publish(f"{root}/M01/T2/events", json.dumps(event("T2", 2)).encode(), qos=1)
        # the wrong-shaped topic does not match the subscription filter at all: 7 arrive
        await until(lambda: worker.stats.received >= 7, timeout=20, interval=0.05)
        assert _count(db) == 2  # the good events around the bad ones landed
    delta = {r: _malformed(r) - v for r, v in before.items()}
    assert delta == {
        "not_json": 1,
        "not_object": 1,
        "topic_mismatch": 1,
        "invalid_event": 1,
        "refused": 1,
        "bad_topic": 0,
    }
    assert worker.stats.malformed == 5


def _settled(worker: MqttIngestWorker) -> int:
    """Events the worker is done with: stored, duplicates, or dropped."""
    st = worker.stats
    return st.stored + st.duplicate + st.malformed


def _rows(db: FleetDB, terminal_id: str) -> list[int]:
    with db.sessions() as s:
        return list(
            s.scalars(
                select(EventRow.seq)
                .where(EventRow.terminal_id == terminal_id)
                .order_by(EventRow.seq)
            )
        )


async def test_array_payloads_store_every_event_exactly_once(
    fleet_db: FleetDB, mqtt_broker: tuple[str, int]
) -> None:
    db = fleet_db
    root = f"pgtest-{uuid.uuid4().hex[:8]}/v1"
    terminals = [f"T{i:02d}" for i in range(6)]
    for tid in terminals:
        register(db, tid)
    async with _workers(db, mqtt_broker, root, 2) as workers:
        async with aiomqtt.Client(*mqtt_broker, protocol=aiomqtt.ProtocolVersion.V5) as pub:
            for tid in terminals:
                topic = f"{root}/M01/{tid}/events"
                for start in (0, 50):  # two arrays of 50 events each
                    batch = [event(tid, seq) for seq in range(start, start + 50)]
                    await pub.publish(topic, json.dumps(batch).encode(), qos=1)
                # a single object is still accepted, and a resend overlapping both arrays
                await pub.publish(topic, json.dumps(event(tid, 100)).encode(), qos=1)
                resend = [event(tid, seq) for seq in range(40, 60)]
                await pub.publish(topic, json.dumps(resend).encode(), qos=1)
        total = 6 * (50 + 50 + 1 + 20)
        await until(lambda: sum(_settled(w) for w in workers) >= total, timeout=20, interval=0.05)
    assert sum(w.stats.received for w in workers) == total, "received counts events"
    assert _count(db) == 6 * 101
    assert sum(w.stats.stored for w in workers) == 6 * 101
    assert sum(w.stats.duplicate for w in workers) == 6 * 20
    assert sum(w.stats.malformed for w in workers) == 0
    for tid in terminals:
        assert _rows(db, tid) == list(range(101))


async def test_a_bad_element_never_stops_the_rest_of_its_array(
    sqlite_db: FleetDB, mqtt_broker: tuple[str, int]
) -> None:
    db = sqlite_db
    register(db, "T1")
    register(db, "T2")
    root = f"pgtest-{uuid.uuid4().hex[:8]}/v1"
    reasons = ("not_object", "topic_mismatch", "invalid_event", "refused")
    before = {r: _malformed(r) for r in reasons}
    mixed = [
        event("T1", 1),
        event("T2", 2),  # T1's topic, T2's event
        "not an event",
        {**event("T1", 3), "kind": "fault"},  # a fault without its code: schema-invalid
        event("T1", 4),
    ]
    async with _workers(db, mqtt_broker, root, 1) as (worker,):
        async with aiomqtt.Client(*mqtt_broker, protocol=aiomqtt.ProtocolVersion.V5) as pub:
            await pub.publish(f"{root}/M01/T1/events", json.dumps(mixed).encode(), qos=1)
        await until(lambda: _settled(worker) >= 5, timeout=20, interval=0.05)
    assert _rows(db, "T1") == [1, 4]
    assert _rows(db, "T2") == []
    assert {r: _malformed(r) - v for r, v in before.items()} == {
        "not_object": 1,
        "topic_mismatch": 1,
        "invalid_event": 1,
        "refused": 0,
    }
    assert (worker.stats.received, worker.stats.stored, worker.stats.malformed) == (5, 2, 3)
    assert worker.stats.refused == 1  # the schema-invalid one, refused by the store


async def test_an_oversize_or_empty_array_is_dropped_whole_and_the_worker_goes_on(
    sqlite_db: FleetDB, mqtt_broker: tuple[str, int]
) -> None:
    db = sqlite_db
    register(db, "T1")
    root = f"pgtest-{uuid.uuid4().hex[:8]}/v1"
    topic = f"{root}/M01/T1/events"
    reasons = ("batch_too_large", "batch_too_many", "empty_batch", "too_large")
    before = {r: _malformed(r) for r in reasons}
    pad = "x" * 4000
    too_big = json.dumps([event("T1", s, data={"pad": pad}) for s in range(300)]).encode()
    assert len(too_big) > MAX_BATCH_PAYLOAD_BYTES
    too_many = json.dumps([event("T1", s) for s in range(MAX_BATCH_EVENTS + 1)]).encode()
    assert len(too_many) <= MAX_BATCH_PAYLOAD_BYTES  # over the count, not the size
    just_fits = [event("T1", s) for s in range(1000, 1000 + MAX_BATCH_EVENTS)]
    async with _workers(db, mqtt_broker, root, 1) as (worker,):
        async with aiomqtt.Client(*mqtt_broker, protocol=aiomqtt.ProtocolVersion.V5) as pub:
            for payload in (too_big, too_many, b" [ ] "):
                await pub.publish(topic, payload, qos=1)
            await pub.publish(topic, json.dumps(just_fits).encode(), qos=1)
        await until(lambda: _settled(worker) >= 3 + MAX_BATCH_EVENTS, timeout=20, interval=0.05)
    assert _rows(db, "T1") == list(range(1000, 1000 + MAX_BATCH_EVENTS))
    assert {r: _malformed(r) - v for r, v in before.items()} == {
        "batch_too_large": 1,
        "batch_too_many": 1,
        "empty_batch": 1,
        "too_large": 0,
    }
    assert worker.stats.malformed == 3


def test_the_agent_sends_no_message_the_worker_would_drop_for_its_size() -> None:
    assert publish.MAX_BATCH_PAYLOAD_BYTES <= mqtt_worker.MAX_BATCH_PAYLOAD_BYTES
    assert publish.MAX_BATCH_EVENTS <= mqtt_worker.MAX_BATCH_EVENTS
    assert publish.TOPIC_ROOT == mqtt_worker.TOPIC_ROOT


async def test_the_agents_batch_is_one_array_message_and_the_worker_stores_it_all(
    sqlite_db: FleetDB, mqtt_broker: tuple[str, int], tmp_path: Path
) -> None:
    db = sqlite_db
    tid = "T" + uuid.uuid4().hex[:7].upper()  # the agent publishes under the real topic root
    register(db, tid)
    box = Outbox(tmp_path / "outbox.db", tid, "M01")
    for i in range(3):
        box.emit(EventKind.TRANSACTION, type="sale", outcome="approved", stan=f"{i:06d}")
    async with (
        _workers(db, mqtt_broker, mqtt_worker.TOPIC_ROOT, 1) as (worker,),
        aiomqtt.Client(*mqtt_broker, protocol=aiomqtt.ProtocolVersion.V5) as raw,
    ):
        await raw.subscribe(publish.events_topic("M01", tid), qos=1)
        pub = publish.MqttPublisher(*mqtt_broker, merchant_id="M01", terminal_id=tid)
        try:
            agent = TelemetryAgent(box, pub, heartbeat_interval=None)
            assert await agent.drain_once() == 3
            msg = await asyncio.wait_for(anext(aiext(raw)), 10)
            with pytest.raises(TimeoutError):  # nothing else: the batch was that one message
                await asyncio.wait_for(anext(aiext(raw)), 0.5)
            await until(lambda: worker.stats.stored >= 3, timeout=20, interval=0.05)
            # the worker confirms what it stored on the terminal's acks topic; only then does
            # the terminal forget the events
            await until(lambda: box.pending() == 0, timeout=10, what="the confirmation")
        finally:
            await pub.close()
        assert worker.stats.confirmed == 3
        assert agent.state.confirmed == 3
    assert isinstance(msg.payload, bytes)
    body = json.loads(msg.payload)
    assert isinstance(body, list)
    assert [(e["terminal_id"], e["seq"]) for e in body] == [(tid, 1), (tid, 2), (tid, 3)]
    assert _rows(db, tid) == [1, 2, 3]
    assert worker.stats.stored == 3
    assert box.pending() == 0


async def test_command_goes_out_over_mqtt_and_its_result_completes_it(
    sqlite_db: FleetDB, mqtt_broker: tuple[str, int]
) -> None:
    from datetime import UTC, datetime

    db = sqlite_db
    register(db, "T1")
    root = f"pgtest-{uuid.uuid4().hex[:8]}/v1"
    with db.sessions.begin() as s:
        terminal = get_terminal(s, terminal_id="T1")
        assert terminal is not None
        cmd_id = issue_command(
            s,
            terminal=terminal,
            name="reboot",
            args={"delay_s": 5},
            issued_by="test",
            now=datetime.now(UTC),
        ).id
    async with aiomqtt.Client(*mqtt_broker, protocol=aiomqtt.ProtocolVersion.V5) as term:
        await term.subscribe(f"{root}/M01/T1/commands", qos=1)
        async with _workers(db, mqtt_broker, root, 2, dispatch=True):
            msg = await asyncio.wait_for(anext(aiext(term)), 10)
            body = json.loads(msg.payload)
            assert (body["command_id"], body["name"], body["args"]) == (
                cmd_id,
                "reboot",
                {"delay_s": 5},
            )
            result = event(
                "T1",
                1,
                kind="command_result",
                data={"command_id": cmd_id, "status": "ok", "detail": "rebooted"},
            )
            await term.publish(f"{root}/M01/T1/events", json.dumps(result).encode(), qos=1)

            def done() -> bool:
                with db.sessions() as s:
                    c = s.get(Command, cmd_id)
                    return c is not None and c.status == "succeeded"

            await until(done, timeout=20, interval=0.05)
        # exactly one of the two dispatching workers sent it
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(aiext(term)), 0.5)


def aiext(client: aiomqtt.Client) -> AsyncIterator[aiomqtt.Message]:
    return client.messages.__aiter__()


class FlakyStore(EventStore):
    """The first ``failures`` store calls fail as if the database were down; records when each
    call was made."""

    def __init__(self, db: FleetDB, failures: int) -> None:
        super().__init__(db.sessions, catalog=default_catalog(), clock=SystemClock())
        self.failures = failures
        self.calls: list[float] = []

    def store_parsed(
        self, parsed: list[ParsedEvent | EventError], *, transport: str
    ) -> list[EventResult]:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise OperationalError("INSERT INTO events ...", None, Exception("connection refused"))
        return super().store_parsed(parsed, transport=transport)


class SlowStore(EventStore):
    """The first store call waits ``delay_s`` before storing; ``started`` and ``finished`` tell
    when it began and when it returned."""

    def __init__(self, db: FleetDB, delay_s: float) -> None:
        super().__init__(db.sessions, catalog=default_catalog(), clock=SystemClock())
        self.delay_s = delay_s
        self.started = threading.Event()
        self.finished = threading.Event()

    def store_parsed(
        self, parsed: list[ParsedEvent | EventError], *, transport: str
    ) -> list[EventResult]:
        if self.started.is_set():
            return super().store_parsed(parsed, transport=transport)
        self.started.set()
        time.sleep(self.delay_s)
        try:
            return super().store_parsed(parsed, transport=transport)
        finally:
            self.finished.set()


def _worker(
    store: EventStore, broker: tuple[str, int], root: str, group: str, client_id: str
) -> MqttIngestWorker:
    return MqttIngestWorker(
        store,
        host=broker[0],
        port=broker[1],
        topic_root=root,
        share_group=group,
        client_id=client_id,
        batch_max=200,
    )


async def _redelivered(
    db: FleetDB, broker: tuple[str, int], root: str, group: str, client_id: str
) -> int:
    """Events the broker still holds unacknowledged for ``client_id``'s session: a worker that
    resumes the session is given them at once, before it even subscribes again."""
    worker = _worker(
        EventStore(db.sessions, catalog=default_catalog(), clock=SystemClock()),
        broker,
        root,
        group,
        client_id,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(worker.subscribed.wait(), 10)
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    return worker.stats.received


async def _publish(broker: tuple[str, int], messages: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client(*broker, protocol=aiomqtt.ProtocolVersion.V5) as pub:
        for topic, payload in messages:
            await pub.publish(topic, payload, qos=1)


async def test_a_store_failing_with_a_database_error_is_redelivered_after_a_back_off(
    fleet_db: FleetDB, mqtt_broker: tuple[str, int]
) -> None:
    db = fleet_db
    root = f"pgtest-{uuid.uuid4().hex[:8]}/v1"
    group, client_id = f"g{uuid.uuid4().hex[:8]}", f"w{uuid.uuid4().hex[:8]}"
    terminals = ["T1", "T2", "T3"]
    for tid in terminals:
        register(db, tid)
    store = FlakyStore(db, failures=2)
    worker = _worker(store, mqtt_broker, root, group, client_id)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(worker.subscribed.wait(), 10)
        await _publish(
            mqtt_broker,
            [
                (f"{root}/M01/{tid}/events", json.dumps(event(tid, seq)).encode())
                for seq in range(20)
                for tid in terminals
            ],
        )
        await until(lambda: worker.stats.stored >= 60, timeout=20, interval=0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    # both failed calls' messages came back from the broker: every event is stored, once
    assert len(store.calls) >= 3
    assert _count(db) == 60
    for tid in terminals:
        assert _rows(db, tid) == list(range(20))
    # a failed batch is counted when it is delivered again, not twice
    assert (worker.stats.received, worker.stats.stored, worker.stats.duplicate) == (60, 60, 0)
    # the worker backed off before reconnecting (0.5 s, then 1 s), it did not spin
    assert store.calls[1] - store.calls[0] >= 0.45
    assert store.calls[2] - store.calls[1] >= 0.95
    # and once stored, everything was acknowledged: the session holds nothing more
    assert await _redelivered(db, mqtt_broker, root, group, client_id) == 0


async def test_stop_waits_for_a_store_under_way_and_stores_everything_received(
    pg_db: FleetDB, mqtt_broker: tuple[str, int]
) -> None:
    db = pg_db
    root = f"pgtest-{uuid.uuid4().hex[:8]}/v1"
    group, client_id = f"g{uuid.uuid4().hex[:8]}", f"w{uuid.uuid4().hex[:8]}"
    register(db, "T1")
    topic = f"{root}/M01/T1/events"
    store = SlowStore(db, delay_s=1.5)
    worker = _worker(store, mqtt_broker, root, group, client_id)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(worker.subscribed.wait(), 10)
        await _publish(mqtt_broker, [(topic, json.dumps(event("T1", 0)).encode())])
        assert await asyncio.to_thread(store.started.wait, 10)
        # these arrive while the first store sleeps in its thread
        await _publish(
            mqtt_broker, [(topic, json.dumps(event("T1", seq)).encode()) for seq in range(1, 30)]
        )
        assert not store.finished.is_set()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    # run returned only after the store under way had returned ...
    assert store.finished.is_set()
    # ... and after storing what had arrived meanwhile
    assert _rows(db, "T1") == list(range(30))
    assert (worker.stats.received, worker.stats.stored) == (30, 30)
    # all of it acknowledged: the session holds nothing to deliver again
    assert await _redelivered(db, mqtt_broker, root, group, client_id) == 0
