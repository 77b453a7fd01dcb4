"""Terminal side-paths: what the sale path pays for durable telemetry and printing, how fast
the agent drains to the broker, and how fast the watchdog sees a hang.

- ``Outbox.emit`` (schema validation + numbered row, SQLite WAL synchronous=FULL) against a bare
  SQLite insert+commit of the same JSON with the same pragmas, same disk, same run.
- ``PrintQueue.enqueue`` (receipt validation + JSON + durable row) against the same bare insert.
- ``ReceiptRenderer.render`` per slip (pure, no baseline).
- MQTT drain (outbox → Mosquitto, QoS 1: the agent's drain batch of up to 100 events as one JSON
  array, one PUBACK each, then ack in SQLite) against raw aiomqtt QoS 1 publishes of the same
  events one per message, as the agent sent them before it batched (skipped when no broker on
  127.0.0.1:1883).
- Watchdog: time from a child's last heartbeat to the DEV.FREEZE report (interval 0.1 s,
  missed 3), with a real child process that hangs.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._result import Result
from posguard.common.events import EventKind
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.agent.publish import MqttPublisher
from posguard.terminal.agent.runner import TelemetryAgent
from posguard.terminal.printer.ports import DummyPort
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.printer.queue import PrintQueue
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.printer.testing import sample_receipt
from posguard.terminal.watchdog import Supervisor

RECEIPT = sample_receipt(merchant_name="上海静安便利店")


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def _interleaved_ms(tmp: Path, n: int) -> tuple[list[float], list[float], list[float]]:
    """Bare insert, outbox emit and print enqueue, alternated call by call, so machine load
    (shared 2-core box) hits all three alike."""
    body = json.dumps({"v": 1, "kind": "transaction", "data": {"type": "sale", "amount": 1}})
    db = sqlite3.connect(str(tmp / "bare.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT)")
    box = Outbox(tmp / "outbox.db", "T0000001", "898310048990001")
    q = PrintQueue(tmp / "print.db", DummyPort(), ReceiptRenderer(load_profile("generic-58-gbk")))
    bare: list[float] = []
    emit: list[float] = []
    enq: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (body) VALUES (?)", (body,))
        db.execute("COMMIT")
        t1 = time.perf_counter()
        box.emit(
            EventKind.TRANSACTION, type="sale", outcome="approved", rc="00", amount=i, stan="000123"
        )
        t2 = time.perf_counter()
        q.enqueue(RECEIPT)
        t3 = time.perf_counter()
        bare.append((t1 - t0) * 1000)
        emit.append((t2 - t1) * 1000)
        enq.append((t3 - t2) * 1000)
    db.close()
    box.close()
    q.close()
    return bare, emit, enq


def _broker_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return True
    except OSError:
        return False


async def _mqtt(n: int, tmp: Path) -> tuple[float, float]:
    import aiomqtt

    tid = f"B{int(time.time()) % 10_000_000:07d}"
    box = Outbox(tmp / "mqtt.db", tid, "898310048990001")
    for i in range(n):
        box.emit(EventKind.HEARTBEAT, uptime_s=i)
    payloads = [e.model_dump_json().encode() for e in box.peek(n)]
    agent = TelemetryAgent(
        box,
        MqttPublisher("127.0.0.1", 1883, merchant_id="898310048990001", terminal_id=tid),
        batch_size=100,
        heartbeat_interval=None,
        max_unconfirmed=n,  # no fleet confirms here: this measures handing over to the broker
    )
    t0 = time.perf_counter()
    while await agent.drain_once():
        pass
    ours = n / (time.perf_counter() - t0)
    await agent.publisher.close()
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"raw-{tid}") as c:
        t0 = time.perf_counter()
        for p in payloads:
            await c.publish(f"bench/{tid}", p, qos=1)
        raw = n / (time.perf_counter() - t0)
    return ours, raw


HANG_CHILD = """
import time
from posguard.terminal.watchdog import run_supervised
def main(hb):
    for _ in range(5):
        time.sleep(0.02); hb.beat()
    with open(__import__("sys").argv[1], "w") as f:  # right after the last beat
        f.write(repr(time.monotonic()))
    while True:
        time.sleep(1)
run_supervised(main, lambda reason: None)
"""


class _FreezeProbe:
    def __init__(self) -> None:
        self.seen: list[float] = []
        self.supervisor: Supervisor | None = None

    def __call__(self, kind: EventKind, code: str | None = None, **data: Any) -> None:
        if code == "DEV.FREEZE" and self.supervisor is not None:
            self.seen.append(time.monotonic())
            self.supervisor.stop()


def _freeze_detect(tmp: Path, runs: int) -> list[float]:
    script = tmp / "hang.py"
    script.write_text(HANG_CHILD)
    out = []
    for i in range(runs):
        mark = tmp / f"last-beat-{i}"
        probe = _FreezeProbe()
        sup = Supervisor(
            [sys.executable, str(script), str(mark)],
            interval=0.1,
            missed=3,
            grace=0.5,
            emit=probe,
        )
        probe.supervisor = sup
        sup.run()
        out.append((probe.seen[0] - float(mark.read_text())) * 1000)
    return out


def run(quick: bool) -> list[Result]:
    n = 200 if quick else 2000
    tmp = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    bare, emit, enq = _interleaved_ms(tmp, n)
    renderer = ReceiptRenderer(load_profile("generic-80-gbk"))
    t0 = time.perf_counter()
    for _ in range(n):
        renderer.render(RECEIPT)
    render_ms = (time.perf_counter() - t0) * 1000 / n
    results = [
        Result(
            "outbox emit p50",
            statistics.median(emit),
            "ms",
            statistics.median(bare),
            "bare SQLite insert+commit",
            higher_is_better=False,
            note=f"{n} events, fsync each",
        ),
        Result(
            "outbox emit p99",
            _pct(emit, 0.99),
            "ms",
            _pct(bare, 0.99),
            "bare SQLite insert+commit",
            higher_is_better=False,
        ),
        Result(
            "print enqueue p50",
            statistics.median(enq),
            "ms",
            statistics.median(bare),
            "bare SQLite insert+commit",
            higher_is_better=False,
        ),
        Result("receipt render", render_ms, "ms/slip", None, note="80 mm GBK, pure"),
    ]
    if _broker_up():
        ours, raw = asyncio.run(_mqtt(n // 2, tmp))
        results.append(
            Result(
                "outbox → MQTT drain",
                ours,
                "events/s",
                raw,
                "raw aiomqtt QoS 1",
                note="one JSON array (≤100 events) per PUBACK + SQLite ack per batch; "
                "baseline: one event per publish",
            )
        )
    freeze = _freeze_detect(tmp, 2 if quick else 5)
    results.append(
        Result(
            "watchdog: last beat → DEV.FREEZE",
            statistics.median(freeze),
            "ms",
            None,
            higher_is_better=False,
            target="≈ 300 ms (3 × 0.1 s)",
            note=f"median of {len(freeze)}, max {max(freeze):.0f} ms",
        )
    )
    return results
