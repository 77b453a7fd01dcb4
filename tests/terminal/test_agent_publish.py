"""Publishing over a real Mosquitto broker and a real local HTTP server; backoff when away."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from posguard.common.event_ack import ack_payload
from posguard.common.events import EventKind, parse_event
from posguard.common.testing import free_port, until
from posguard.terminal.agent.commands import CommandDispatcher, CommandName
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.agent.publish import (
    MAX_BATCH_EVENTS,
    MAX_BATCH_PAYLOAD_BYTES,
    HttpPublisher,
    MqttPublisher,
    PublishError,
    acks_topic,
    commands_topic,
    events_topic,
    mqtt_payloads,
)
from posguard.terminal.agent.runner import Backoff, TelemetryAgent

MID = "898310048990001"


def _tid() -> str:
    return "T" + uuid.uuid4().hex[:7].upper()


class IngestServer:
    """A small fleet stand-in: POST /api/v1/ingest/batch, bearer token, optional commands."""

    def __init__(self, token: str, port: int = 0) -> None:
        self.token = token
        self.batches: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self.status = 200
        self.max_batch = 1000
        self.pending: list[dict[str, Any]] = []  # commands waiting for pickup
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.headers.get("Authorization") != f"Bearer {outer.token}":
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path != "/api/v1/terminals/T1/commands/pending":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                reply = json.dumps(outer.pending).encode()
                outer.pending = []
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/api/v1/ingest/batch":
                    self.send_response(404)
                elif self.headers.get("Authorization") != f"Bearer {outer.token}":
                    self.send_response(401)
                elif outer.status != 200:
                    self.send_response(outer.status)
                elif len(json.loads(body)["events"]) > outer.max_batch:
                    self.send_response(413)
                else:
                    outer.batches.append(json.loads(body))
                    reply = json.dumps({"accepted": True, "commands": outer.commands}).encode()
                    outer.commands = []
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                    return
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def events(self) -> list[dict[str, Any]]:
        return [e for b in self.batches for e in b["events"]]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ingest() -> Iterator[IngestServer]:
    srv = IngestServer("tok-T1")
    yield srv
    srv.stop()


async def test_http_batches_are_posted_with_bearer_token_and_acked(
    tmp_path: Path, ingest: IngestServer
) -> None:
    tid = _tid()
    box = Outbox(tmp_path / "o.db", tid, MID)
    for i in range(3):
        box.emit(EventKind.TRANSACTION, type="sale", outcome="approved", stan=f"{i:06d}")
    agent = TelemetryAgent(box, HttpPublisher(ingest.url, "tok-T1"), heartbeat_interval=None)
    assert await agent.drain_once() == 3
    await agent.publisher.close()
    got = [parse_event(e) for e in ingest.events()]
    assert [e.seq for e in got] == [1, 2, 3]
    assert all(e.terminal_id == tid for e in got)
    assert box.pending() == 0


async def test_http_wrong_token_keeps_events_and_names_the_fault(
    tmp_path: Path, ingest: IngestServer
) -> None:
    box = Outbox(tmp_path / "o.db", _tid(), MID)
    box.emit(EventKind.LIFECYCLE, event="boot")
    pub = HttpPublisher(ingest.url, "wrong")
    with pytest.raises(PublishError) as err:
        await TelemetryAgent(box, pub, heartbeat_interval=None).drain_once()
    await pub.close()
    assert err.value.code == "CFG.TERMINAL_UNREGISTERED"
    assert box.pending() == 1
    ingest.status = 503
    pub = HttpPublisher(ingest.url, "tok-T1")
    with pytest.raises(PublishError) as err:
        await TelemetryAgent(box, pub, heartbeat_interval=None).drain_once()
    await pub.close()
    assert err.value.code == "TP.API_ERROR"
    assert box.pending() == 1


async def test_unreachable_fleet_backs_off_buffers_then_delivers_everything(tmp_path: Path) -> None:
    port = free_port()
    box = Outbox(tmp_path / "o.db", _tid(), MID)
    agent = TelemetryAgent(
        box,
        HttpPublisher(f"http://127.0.0.1:{port}", "tok-T1", timeout=1.0),
        idle_interval=0.05,
        backoff=Backoff(base=0.05, cap=0.2),
        heartbeat_interval=None,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    for i in range(5):
        box.emit(EventKind.FAULT, "NET.READ_TIMEOUT", host="primary", n=i)
    await until(lambda: agent.state.failures >= 3, timeout=10)
    assert agent.state.last_error_code == "NET.CONNECT_REFUSED"
    assert box.pending() == 5  # nothing lost while the fleet is away
    srv = IngestServer("tok-T1", port=port)
    try:
        await until(lambda: box.pending() == 0, timeout=10)
        box.emit(EventKind.FAULT_CLEARED, "NET.READ_TIMEOUT")
        await until(lambda: len(srv.events()) == 6, timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        srv.stop()
    assert [e["seq"] for e in srv.events()] == [1, 2, 3, 4, 5, 6]
    assert agent.state.connected


async def test_commands_in_the_http_answer_are_dispatched(
    tmp_path: Path, ingest: IngestServer
) -> None:
    box = Outbox(tmp_path / "o.db", _tid(), MID)
    seen: list[str] = []

    def reprint(cmd: Any) -> str:
        seen.append(cmd.command_id)
        return "queued job 7"

    disp = CommandDispatcher(tmp_path / "c.db", {CommandName.REPRINT: reprint}, box.emit)
    pub = HttpPublisher(ingest.url, "tok-T1", on_command=lambda raw: _ignore(disp.handle(raw)))
    ingest.commands = [{"command_id": "c-1", "command": "reprint"}]
    box.emit(EventKind.LIFECYCLE, event="boot")
    agent = TelemetryAgent(box, pub, heartbeat_interval=None)
    await agent.drain_once()
    assert seen == ["c-1"]
    await agent.drain_once()  # the acknowledgement goes out with the next batch
    await pub.close()
    results = [e for e in ingest.events() if e["kind"] == "command_result"]
    assert results[0]["data"] == {"command_id": "c-1", "status": "ok", "detail": "queued job 7"}


async def _ignore(coro: Any) -> None:
    await coro


def _events(payload: bytes) -> list[dict[str, Any]]:
    """The events of one MQTT message: a JSON array of them, or one object."""
    body = json.loads(payload)
    return body if isinstance(body, list) else [body]


@pytest.mark.mqtt
async def test_mqtt_events_arrive_on_the_terminal_topic_with_qos1(
    tmp_path: Path, mqtt_broker: tuple[str, int]
) -> None:
    host, port = mqtt_broker
    tid = _tid()
    box = Outbox(tmp_path / "o.db", tid, MID)
    received: list[bytes] = []
    async with aiomqtt.Client(host, port, identifier=f"fleet-{tid}") as fleet:
        await fleet.subscribe(events_topic(MID, tid), qos=1)

        async def collect() -> None:
            async for msg in fleet.messages:
                assert isinstance(msg.payload, bytes)
                received.append(msg.payload)
                if sum(len(_events(r)) for r in received) >= 4:
                    return

        collector = asyncio.create_task(collect())
        pub = MqttPublisher(host, port, merchant_id=MID, terminal_id=tid)
        for i in range(3):
            box.emit(EventKind.TRANSACTION, type="sale", outcome="approved", stan=f"{i:06d}")
        agent = TelemetryAgent(box, pub, heartbeat_interval=None)
        assert await agent.drain_once() == 3  # one batch: one message, a JSON array
        box.emit(EventKind.LIFECYCLE, event="boot")
        assert await agent.drain_once() == 1  # a batch of one: the plain object
        await asyncio.wait_for(collector, 10)
        assert box.pending() == 4  # the broker's PUBACK is not the fleet storing them
        # the fleet confirms 1-3 (stored), and says nothing of 4 yet
        await fleet.publish(acks_topic(MID, tid), ack_payload(tid, [(1, 3)]), qos=1)
        await until(lambda: box.pending() == 1, timeout=10)
        assert agent.state.confirmed == 3
        assert agent.unconfirmed == 1
        await pub.close()
    assert len(received) == 2
    assert isinstance(json.loads(received[0]), list)
    assert isinstance(json.loads(received[1]), dict)
    events = [parse_event(e) for r in received for e in _events(r)]
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert [e.seq for e in box.peek()] == [4]


def test_mqtt_payloads_keep_order_and_stay_within_the_workers_limits() -> None:
    n = 2 * MAX_BATCH_EVENTS + 500
    small = [json.dumps({"seq": i}).encode() for i in range(n)]
    by_count = mqtt_payloads(small)
    assert [len(json.loads(p)) for p in by_count] == [MAX_BATCH_EVENTS, MAX_BATCH_EVENTS, 500]
    assert [e["seq"] for p in by_count for e in _events(p)] == list(range(n))
    big = [json.dumps({"seq": i, "pad": "x" * 300_000}).encode() for i in range(7)]
    by_size = mqtt_payloads(big)
    assert max(len(p) for p in by_size) <= MAX_BATCH_PAYLOAD_BYTES
    assert [e["seq"] for p in by_size for e in _events(p)] == list(range(7))
    assert [type(json.loads(p)) for p in by_size] == [list, list, dict]  # 3, 3, the last alone
    assert [len(_events(p)) for p in by_size] == [3, 3, 1]
    assert mqtt_payloads([small[0]]) == [small[0]]  # one event: the plain object


@pytest.mark.mqtt
async def test_mqtt_remote_command_runs_once_and_is_acknowledged(
    tmp_path: Path, mqtt_broker: tuple[str, int]
) -> None:
    host, port = mqtt_broker
    tid = _tid()
    box = Outbox(tmp_path / "o.db", tid, MID)
    calls: list[str] = []

    async def re_sign_on(cmd: Any) -> str:
        calls.append(cmd.command_id)
        return "signed on with host primary"

    disp = CommandDispatcher(tmp_path / "c.db", {"re_sign_on": re_sign_on}, box.emit)
    pub = MqttPublisher(host, port, merchant_id=MID, terminal_id=tid, on_command=disp.handle)
    agent = TelemetryAgent(box, pub, idle_interval=0.05, heartbeat_interval=None)
    stop = asyncio.Event()
    results: list[dict[str, Any]] = []
    async with aiomqtt.Client(host, port, identifier=f"fleet-{tid}") as fleet:
        await fleet.subscribe(events_topic(MID, tid), qos=1)
        await pub.connect()
        task = asyncio.create_task(agent.run(stop))
        cmd = json.dumps({"command_id": "cmd-42", "name": "re_sign_on", "args": {}})
        for _ in range(2):  # a redelivery must not run it twice
            await fleet.publish(commands_topic(MID, tid), cmd, qos=1)
        await fleet.publish(
            commands_topic(MID, tid), '{"command_id": "cmd-43", "command": "fly"}', qos=1
        )

        async def collect() -> None:
            async for msg in fleet.messages:
                assert isinstance(msg.payload, bytes)
                for ev in _events(msg.payload):
                    if ev["kind"] == "command_result":
                        results.append(ev["data"])
                if len(results) == 2:
                    return

        await asyncio.wait_for(collect(), 10)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert calls == ["cmd-42"]
    by_id = {r["command_id"]: r for r in results}
    assert by_id["cmd-42"] == {
        "command_id": "cmd-42",
        "status": "ok",
        "detail": "signed on with host primary",
    }
    assert by_id["cmd-43"]["status"] == "failed"
    assert "command" in by_id["cmd-43"]["detail"]


async def test_mqtt_unreachable_broker_is_a_named_fault(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", _tid(), MID)
    box.emit(EventKind.LIFECYCLE, event="boot")
    pub = MqttPublisher(
        "127.0.0.1", free_port(), merchant_id=MID, terminal_id="T0000009", timeout=2
    )
    with pytest.raises(PublishError) as err:
        await TelemetryAgent(box, pub, heartbeat_interval=None).drain_once()
    assert err.value.code == "NET.CONNECT_REFUSED"
    assert box.pending() == 1


async def test_fleet_shaped_commands_are_picked_up_and_big_batches_are_split(
    tmp_path: Path, ingest: IngestServer
) -> None:
    """The fleet's pickup endpoint and CommandMessage shape (``name``, ``issued_at``); a 413
    halves the batch until it fits, nothing is lost or resent out of order."""
    box = Outbox(tmp_path / "o.db", "T1", MID)
    got: list[tuple[str, dict[str, Any]]] = []

    def reprint(cmd: Any) -> str:
        got.append((cmd.command_id, cmd.args))
        return "queued"

    disp = CommandDispatcher(tmp_path / "c.db", {"reprint": reprint}, box.emit)
    pub = HttpPublisher(ingest.url, "tok-T1", terminal_id="T1", on_command=disp.handle)
    ingest.pending = [
        {
            "command_id": "0b6f9c52-7c1e-4c55-9d0e-3f1f2b8a9a10",
            "name": "reprint",
            "args": {"copy": "merchant"},
            "issued_at": "2026-11-25T10:00:00+00:00",
        }
    ]
    assert await pub.poll_commands() == 1
    assert got == [("0b6f9c52-7c1e-4c55-9d0e-3f1f2b8a9a10", {"copy": "merchant"})]
    assert await pub.poll_commands() == 0
    for i in range(9):
        box.emit(EventKind.HEARTBEAT, uptime_s=i)
    ingest.max_batch = 3
    agent = TelemetryAgent(box, pub, batch_size=10, heartbeat_interval=None)
    errors: list[PublishError] = []
    for _ in range(10):
        try:
            await agent.drain_once()
        except PublishError as exc:
            errors.append(exc)
        if box.pending() == 0:
            break
    assert len(errors) == 2
    assert all(e.too_large for e in errors)
    await pub.close()
    assert agent.batch_size == 2  # 10 -> 5 -> 2
    assert [e["seq"] for e in ingest.events()] == list(range(1, 11))  # result + 9 heartbeats


def test_agent_thread_serves_a_synchronous_runtime(tmp_path: Path, ingest: IngestServer) -> None:
    import time

    from posguard.terminal.agent.runner import AgentThread

    box = Outbox(tmp_path / "o.db", _tid(), MID)
    thread = AgentThread(
        lambda: TelemetryAgent(
            box, HttpPublisher(ingest.url, "tok-T1"), idle_interval=5.0, heartbeat_interval=None
        )
    )
    thread.start()
    t0 = time.monotonic()
    box.emit(EventKind.TRANSACTION, type="sale", outcome="approved")  # from the "sale" thread
    while not ingest.events() and time.monotonic() - t0 < 5:
        time.sleep(0.01)
    thread.stop()
    assert [e["kind"] for e in ingest.events()] == ["transaction"]
    assert time.monotonic() - t0 < 2.5  # woken by the emit, not by the 5 s idle timer
    assert box.pending() == 0
