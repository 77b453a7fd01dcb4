"""Telemetry over MQTT is delivered end to end: nothing lost, nothing doubled, through crashes.

A private Mosquitto runs on its own port with the shipped production settings
(``deploy/mosquitto/mosquitto.conf``: persistence, session expiry), except a deliberately small
per-client queue, so the broker really drops messages queued for an ingest worker that is away
("Outgoing messages are being dropped for client ..."). Terminals publish unpaced (their
outboxes full before the agents start), a tenth of the events is published a second time by a
stray client, the ingest worker (a real ``posguard fleet mqtt-worker`` process) is killed with
SIGKILL twice, and the broker is restarted once. Every event must end up in the fleet database
exactly once, and every outbox empty: a terminal forgets an event only when the fleet has
confirmed storing it (``posguard.common.event_ack``), never on the broker's PUBACK.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest
from sqlalchemy import text

from posguard.common.events import EventKind
from posguard.common.testing import free_port
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.repo.terminals import add_terminal
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.agent.publish import MqttPublisher, events_topic
from posguard.terminal.agent.runner import Backoff, TelemetryAgent

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONF = REPO / "deploy" / "mosquitto" / "mosquitto.conf"
MID = "898310048990001"
TERMINALS = 20
# 20,000 events, as the issue asks (about 20 s on an idle 2-core machine, a minute under heavy
# load); POSGUARD_DELIVERY_EVENTS=10000 for a quicker local run
EVENTS_PER_TERMINAL = int(os.environ.get("POSGUARD_DELIVERY_EVENTS", "20000")) // TERMINALS
DUPLICATE_SHARE = 0.10
QUEUE_LIMIT = 200  # per client: small, so the broker drops what it queues for a dead worker


class Broker:
    """A private Mosquitto: the shipped config with its own port, directory and queue limit."""

    def __init__(self, workdir: Path) -> None:
        exe = shutil.which("mosquitto")
        if exe is None:
            reason = "mosquitto is not installed (Debian package 'mosquitto')"
            if os.environ.get("POSGUARD_REQUIRE_SERVICES") == "1":
                pytest.fail(reason)
            pytest.skip(reason)
        self.exe = exe
        self.port = free_port()
        workdir.chmod(0o777)  # mosquitto may drop to its own user: it writes persistence here
        self.log = workdir / "mosquitto.log"
        kept = [
            line
            for line in SHIPPED_CONF.read_text().splitlines()
            if not line.startswith(
                ("listener", "persistence_location", "log_dest", "password_file", "acl_file")
            )
            and not line.startswith("allow_anonymous")
        ]
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            "\n".join(kept) + f"\nlistener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence_location {workdir}/\nlog_dest file {self.log}\n"
            f"max_queued_messages {QUEUE_LIMIT}\n" + ("user root\n" if os.geteuid() == 0 else "")
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"mosquitto did not start: {err}") from None
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def stop(self) -> None:
        """SIGTERM: Mosquitto writes its persistence file and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def dropped_messages(self) -> bool:
        return "messages are being dropped" in self.log.read_text(errors="replace")


class Worker:
    """``posguard fleet mqtt-worker`` as a child process with a stable client id."""

    def __init__(self, db_url: str, port: int, workdir: Path, client_id: str) -> None:
        # the fleet's own Typer app: the same command as `posguard fleet mqtt-worker`, without
        # importing every other face of the CLI (seconds on a busy machine, per restart)
        self.args = [
            sys.executable,
            "-c",
            "from posguard.fleet.cli import app; app()",
            "mqtt-worker",
            "--db",
            db_url,
            "--broker",
            "127.0.0.1",
            "--broker-port",
            str(port),
            "--client-id",
            client_id,
            "--no-dispatch-commands",
        ]
        self.out = (workdir / f"{client_id}.log").open("ab")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdout=self.out, stderr=subprocess.STDOUT)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    (tmp_path / "broker").mkdir()
    b = Broker(tmp_path / "broker")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def shm() -> Iterator[Path]:
    """A scratch directory in memory when there is one: the outboxes' fsyncs are not what this
    test measures, and 20,000 of them on a shared disk take longer than the whole delivery."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="posguard-outboxes-", dir=base) as d:
        yield Path(d)


def _stored(engine_url: str) -> int:
    engine = make_engine(engine_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM events")).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.mqtt
async def test_no_event_is_lost_or_doubled_through_worker_kills_and_a_broker_restart(
    tmp_path: Path, broker: Broker, shm: Path
) -> None:
    total = TERMINALS * EVENTS_PER_TERMINAL
    db_url = f"sqlite:///{tmp_path / 'fleet.db'}"
    engine = make_engine(db_url)
    upgrade(engine)
    tids = [f"T{i:07d}" for i in range(TERMINALS)]
    with make_sessionmaker(engine).begin() as session:
        for tid in tids:
            add_terminal(
                session,
                terminal_id=tid,
                merchant_id=MID,
                model="A920",
                brand="PAX",
                firmware="1.0",
                acquirer_host="acq-east",
                area="pudong",
                location="",
                install_date=None,
                warranty_end=None,
                now=datetime.now(UTC),
            )
    engine.dispose()

    # two workers in the shared group, as in production; each has a stable session to resume
    worker, other = (Worker(db_url, broker.port, tmp_path, f"ingest-{n}") for n in (1, 2))
    worker.start()  # they load while the outboxes fill
    other.start()
    # every terminal's outbox is full before publishing starts: unpaced
    boxes = {tid: Outbox(shm / f"{tid}.db", tid, MID) for tid in tids}
    rng = random.Random(16)
    duplicates: list[tuple[str, bytes]] = []
    for tid, box in boxes.items():
        for i in range(EVENTS_PER_TERMINAL):
            event = box.emit(
                EventKind.TRANSACTION, type="sale", outcome="approved", stan=f"{i + 1:06d}"
            )
            if rng.random() < DUPLICATE_SHARE:
                duplicates.append((events_topic(MID, tid), event.model_dump_json().encode()))

    stop = asyncio.Event()
    agents = [
        TelemetryAgent(
            box,
            MqttPublisher("127.0.0.1", broker.port, merchant_id=MID, terminal_id=tid, timeout=3),
            batch_size=10,  # many small messages: the hard case for the broker's queue
            idle_interval=0.2,
            heartbeat_interval=None,
            backoff=Backoff(base=0.2, factor=2.0, cap=1.0),
            confirm_timeout=2.0,
            confirm_timeout_cap=8.0,
            max_unconfirmed=300,
        )
        for tid, box in boxes.items()
    ]

    async def stray_duplicates() -> None:
        """A tenth of the events published again, one message each, as fast as possible."""
        sent = 0
        while sent < len(duplicates):
            try:
                async with aiomqtt.Client("127.0.0.1", broker.port, timeout=3) as client:
                    for topic, payload in duplicates[sent:]:
                        await client.publish(topic, payload, qos=1, timeout=3)
                        sent += 1
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)  # the broker is restarting

    async def stored_at_least(n: int) -> int:
        while (count := await asyncio.to_thread(_stored, db_url)) < n:
            await asyncio.sleep(0.05)
        return count

    started = time.monotonic()
    tasks = [asyncio.create_task(a.run(stop)) for a in agents]
    dup_task = asyncio.create_task(stray_duplicates())
    at_chaos: list[int] = []
    try:
        async with asyncio.timeout(50):
            at_chaos.append(await stored_at_least(total // 10))
            worker.kill9()
            worker.start()
            at_chaos.append(await stored_at_least(total * 4 // 10))
            broker.stop()
            await asyncio.sleep(0.5)
            broker.start()
            at_chaos.append(await stored_at_least(total * 6 // 10))
            other.kill9()
            other.start()
            await dup_task
            while any(box.pending() for box in boxes.values()):
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        dup_task.cancel()
        worker.stop()
        other.stop()
    elapsed = time.monotonic() - started

    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT terminal_id, seq, COUNT(*) FROM events GROUP BY terminal_id, seq")
        ).all()
        total_rows = int(conn.execute(text("SELECT COUNT(*) FROM events")).scalar_one())
    engine.dispose()
    expected = {(tid, seq) for tid in tids for seq in range(1, EVENTS_PER_TERMINAL + 1)}
    stored = {(tid, seq) for tid, seq, _ in rows}
    resent = sum(a.state.resent for a in agents)
    report = {
        "events": total,
        "duplicates_published": len(duplicates),
        "stored_when_killed_or_restarted": at_chaos,
        "resent_after_timeout": resent,
        "broker_dropped_messages": broker.dropped_messages(),
        "seconds": round(elapsed, 1),
    }
    print(json.dumps(report))
    assert all(n < total for n in at_chaos), report  # every fault struck mid-stream
    assert expected - stored == set(), f"lost: {len(expected - stored)} {report}"
    assert stored - expected == set()
    assert total_rows == total, f"doubled rows: {total_rows - total} {report}"
    assert all(box.pending() == 0 for box in boxes.values())
