"""`serve --workers 2`: the diagnosis loop runs in worker 0, yet a dead loop makes /readyz of
*every* worker answer 503 (the heartbeat crosses processes through the metric files), and
readiness comes back when the loop does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from posguard.common.testing import free_port
from posguard.fleet.db.engine import make_engine
from posguard.fleet.db.migrate import upgrade


def _statuses(base: str, n: int = 12) -> set[tuple[int, str]]:
    """(status, detail) of ``n`` /readyz calls, each on a new connection (spread over workers)."""
    out = set()
    for _ in range(n):
        try:
            r = httpx.get(f"{base}/readyz", timeout=5)
        except httpx.HTTPError:
            continue
        out.add((r.status_code, str(r.json().get("detail", ""))))
    return out


def _wait(pred: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_every_worker_reports_a_dead_diagnosis_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    engine = make_engine(url)
    upgrade(engine)
    port = free_port()
    env = {
        **os.environ,
        "POSGUARD_FLEET_JWT_SECRET": "r" * 40,
        "POSGUARD_FLEET_LOOP_STALE_AFTER_S": "2",
        "POSGUARD_FLEET_DIAGNOSIS_POLL_S": "0.1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "posguard", "fleet", "serve", "--db", url, "--port", str(port),
         "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: {s for s, _ in _statuses(base, 4)} == {200}, 120, "both workers ready")
        with engine.begin() as c:
            c.execute(text("ALTER TABLE events RENAME TO events_away"))
        _wait(
            lambda: _statuses(base) == {(503, "loop(s) without a heartbeat: diagnosis")},
            60,
            "every worker to report the dead diagnosis loop",
        )
        with engine.begin() as c:
            c.execute(text("ALTER TABLE events_away RENAME TO events"))
        _wait(lambda: {s for s, _ in _statuses(base)} == {200}, 60, "readiness to come back")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        engine.dispose()
