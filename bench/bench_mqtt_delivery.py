"""End-to-end MQTT delivery: events/s from full terminal outboxes to rows in the fleet database,
with the fleet's confirmation (an event leaves the outbox when the fleet says it stored it)
against the PUBACK-only drain it replaced (an event left the outbox on the broker's PUBACK),
measured in one run on the same private broker, the same worker command and the same load.

Each mode: a fresh SQLite fleet database, one ``posguard fleet mqtt-worker`` process, a private
Mosquitto with the shipped settings (``deploy/mosquitto/mosquitto.conf``), 10 terminals whose
outboxes hold 2,000 events each (``--quick``: 500), the agents' default batch of 100 events a
message. Timed from the agents' start to the last row stored (and, with confirmation, the last
outbox empty). No faults here: this is the price of confirmation, ``tests/e2e/
test_mqtt_delivery.py`` is what it buys.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from bench._result import Result
from posguard.common.events import Event, EventKind
from posguard.common.testing import free_port
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.repo.terminals import add_terminal
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.agent.publish import MqttPublisher
from posguard.terminal.agent.runner import TelemetryAgent

MID = "898310048990001"
CONF = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto" / "mosquitto.conf"


class PubackOnly(MqttPublisher):
    """The drain before confirmation: the broker's PUBACK counts as delivery."""

    async def publish(self, batch: Sequence[Event]) -> list[tuple[int, int]]:
        await super().publish(batch)
        return [(batch[0].seq, batch[-1].seq)]  # the agent's batches are consecutive seqs


def _broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("mosquitto")
    if exe is None:
        raise RuntimeError("mosquitto is not installed")
    port = free_port()
    workdir.chmod(0o777)
    kept = [
        line
        for line in CONF.read_text().splitlines()
        if not line.startswith(
            ("listener", "persistence_location", "log_dest", "password_file", "acl_file")
        )
        and not line.startswith("allow_anonymous")
    ]
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        "\n".join(kept)
        + f"\nlistener {port} 127.0.0.1\nallow_anonymous true\npersistence_location {workdir}/\n"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not start")


def _count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM events")).scalar_one())
    finally:
        engine.dispose()


async def _mode(work: Path, port: int, terminals: int, per: int, confirm: bool) -> float:
    name = "confirm" if confirm else "puback"
    url = f"sqlite:///{work / f'{name}.db'}"
    engine = make_engine(url)
    upgrade(engine)
    tids = [f"{name[0].upper()}{i:07d}" for i in range(terminals)]
    with make_sessionmaker(engine).begin() as session:
        for tid in tids:
            add_terminal(
                session, terminal_id=tid, merchant_id=MID, model="A920", brand="PAX",
                firmware="1", acquirer_host="acq", area="a", location="", install_date=None,
                warranty_end=None, now=datetime.now(UTC),
            )  # fmt: skip
    engine.dispose()
    boxes = [Outbox(work / f"{tid}.db", tid, MID) for tid in tids]
    for box in boxes:
        for i in range(per):
            box.emit(EventKind.TRANSACTION, type="sale", outcome="approved", stan=f"{i:06d}")
    log = work / f"{name}-worker.log"
    log.touch()
    worker = subprocess.Popen(
        [sys.executable, "-c", "from posguard.fleet.cli import app; app()", "mqtt-worker",
         "--db", url, "--broker", "127.0.0.1", "--broker-port", str(port),
         "--client-id", f"ingest-{name}", "--no-dispatch-commands"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    kind = MqttPublisher if confirm else PubackOnly
    agents = [
        TelemetryAgent(
            box,
            kind("127.0.0.1", port, merchant_id=MID, terminal_id=box.terminal_id),
            heartbeat_interval=None,
            idle_interval=0.05,
        )
        for box in boxes
    ]
    try:
        deadline = time.monotonic() + 60  # the worker process loads and subscribes first
        while "fleet.mqtt.subscribed" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"{name}: the worker did not subscribe")
            await asyncio.sleep(0.1)
        stop = asyncio.Event()
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(a.run(stop)) for a in agents]
        total = terminals * per
        while _count(url) < total or (confirm and any(b.pending() for b in boxes)):
            await asyncio.sleep(0.05)
            if time.perf_counter() - t0 > 300:
                raise RuntimeError(f"{name}: not delivered in 300 s")
        elapsed = time.perf_counter() - t0
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        worker.terminate()
        worker.wait(10)
    return total / elapsed


def run(quick: bool = False) -> list[Result]:
    terminals, per = 10, (500 if quick else 2000)
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as d:
        work = Path(d)
        (work / "broker").mkdir()
        broker, port = _broker(work / "broker")
        try:
            puback = asyncio.run(_mode(work, port, terminals, per, confirm=False))
            confirmed = asyncio.run(_mode(work, port, terminals, per, confirm=True))
        finally:
            broker.terminate()
            broker.wait(10)
    return [
        Result(
            f"MQTT delivery to stored rows, {terminals} terminals x {per} events, confirmed",
            confirmed,
            "events/s",
            baseline=puback,
            baseline_name="PUBACK-only drain (the agent before confirmation), same run",
            note="no faults: the cost of confirmation (what it buys: tests/e2e)",
        )
    ]


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(r)
