"""`posguard fleet serve --workers N`: N API processes on one port, connections spread over
them, a dead worker started again, all stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from posguard.common.testing import free_port
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.db.models import EventRow

from .conftest import FleetDB, event, register


def _workers(pid: int) -> list[int]:
    """The API worker processes the supervisor ``pid`` has started (spawned interpreters)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            out.append(int(entry.name))
    return sorted(out)


def _wait(pred: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, FleetDB, str]]:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    engine = make_engine(url)
    upgrade(engine)
    db = FleetDB(url=url, engine=engine, sessions=make_sessionmaker(engine), dialect="sqlite")
    token = register(db, "T1", merchant_id="M01", area="pudong")
    port = free_port()
    env = {**os.environ, "POSGUARD_FLEET_JWT_SECRET": "t" * 40}
    proc = subprocess.Popen(
        [sys.executable, "-m", "posguard", "fleet", "serve", "--db", url, "--port", str(port),
         "--workers", "2", "--no-diagnosis"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait(up, 60, "the API to answer")
        yield proc, base, db, token
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        engine.dispose()


def test_two_workers_take_connections_and_store_each_event_once(
    served: tuple[subprocess.Popen[bytes], str, FleetDB, str],
) -> None:
    proc, base, db, token = served
    _wait(lambda: len(_workers(proc.pid)) == 2, 30, "two workers")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for batch in range(12):  # a new connection each time: the kernel spreads them
        events = [event("T1", batch * 50 + i) for i in range(50)]
        body = json.dumps({"events": events}, default=str)
        with httpx.Client(base_url=base, timeout=30) as client:
            r = client.post("/api/v1/ingest/batch", content=body, headers=headers)
            assert r.status_code == 200, r.text
            assert r.json()["stored"] == 50
            again = client.post("/api/v1/ingest/batch", content=body, headers=headers)
            assert again.json()["duplicate"] == 50
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(EventRow)) == 600
    # any worker's /metrics answers for both (each stored part of the 600)
    line = 'posguard_fleet_events_total{outcome="stored",transport="http"} 600.0'
    for _ in range(4):
        with httpx.Client(base_url=base, timeout=30) as client:
            assert line in client.get("/metrics").text


def test_a_killed_worker_is_started_again_and_sigterm_stops_all(
    served: tuple[subprocess.Popen[bytes], str, FleetDB, str],
) -> None:
    proc, base, _db, _token = served
    _wait(lambda: len(_workers(proc.pid)) == 2, 30, "two workers")
    first = _workers(proc.pid)
    os.kill(first[0], signal.SIGKILL)
    _wait(
        lambda: len(_workers(proc.pid)) == 2 and first[0] not in _workers(proc.pid),
        30,
        "the killed worker to be replaced",
    )
    assert first[1] in _workers(proc.pid)
    for _ in range(10):
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    survivors = _workers(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    for pid in survivors:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
