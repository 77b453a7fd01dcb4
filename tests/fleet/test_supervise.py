"""Supervised loops: a failing round is restarted with back-off, logged once per cause, and a
loop that stops beating is reported by /readyz and by its heartbeat metric. Against the real
PostgreSQL: the database connection is dropped (pg_terminate_backend on this test's backends
only, never the shared server) and the events table made unreachable for a while under the
running diagnosis loop; afterwards diagnosis resumes and a later fault becomes an incident."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from posguard.fleet.supervise import LoopRegistry, LoopState, supervise

from .conftest import FleetDB, event, register


def test_a_failing_loop_is_restarted_logged_once_per_cause_and_recovers() -> None:
    rounds: list[str] = []
    plan = ["boom", "boom", "other", "boom", "other", "ok"]
    registry = LoopRegistry()
    stop = asyncio.Event()

    async def body(beat: Any) -> None:
        step = plan[len(rounds)]
        rounds.append(step)
        if step == "boom":
            raise ConnectionError("database went away\nSQL: SELECT secret")
        if step == "other":
            raise ValueError("bad row")
        beat()
        stop.set()

    async def main() -> None:
        await asyncio.wait_for(
            supervise("demo", body, stop, registry=registry, backoff_s=0.001, backoff_max_s=0.004),
            10,
        )

    with capture_logs() as logs:
        asyncio.run(main())
    assert rounds == plan  # restarted after every failure
    failed = [e for e in logs if e["event"] == "fleet.loop.failed"]
    # each cause once, even taking turns; never the SQL
    assert [e["error"] for e in failed] == [
        "ConnectionError: database went away",
        "ValueError: bad row",
    ]
    recovered = [e for e in logs if e["event"] == "fleet.loop.recovered"]
    assert [e["failures"] for e in recovered] == [5]
    assert registry.loops["demo"].state is LoopState.STOPPED


def test_a_loop_without_heartbeat_counts_as_dead() -> None:
    registry = LoopRegistry()
    health = registry.register("diagnosis", stale_after_s=5, now=100.0)
    assert registry.dead(now=104.0) == []
    assert [h.name for h in registry.dead(now=106.0)] == ["diagnosis"]
    health.beat(now=106.0)
    assert registry.dead(now=107.0) == []


def _pg_with_app_name(pg_db: FleetDB) -> str:
    return f"{pg_db.url}&application_name=pgi23-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def outage_app(pg_db: FleetDB) -> Iterator[tuple[Any, FleetDB, str, dict[str, str]]]:
    from fastapi.testclient import TestClient

    from posguard.fleet.api.app import create_app
    from posguard.fleet.config import FleetSettings

    url = _pg_with_app_name(pg_db)
    app_name = url.rpartition("application_name=")[2]
    creds = {t: register(pg_db, t, merchant_id="M01") for t in ("T1", "T2")}
    settings = FleetSettings(
        database_url=url,
        jwt_secret="s" * 40,  # type: ignore[arg-type]
        diagnosis_in_process=True,
        diagnosis_poll_s=0.05,
        loop_stale_after_s=1.0,
    )
    with TestClient(create_app(settings)) as client:
        yield client, pg_db, app_name, creds


def _incidents(db: FleetDB, terminal_id: str) -> int:
    with db.engine.connect() as c:
        return int(
            c.execute(
                text("SELECT count(*) FROM incidents WHERE terminal_id = :t"), {"t": terminal_id}
            ).scalar_one()
        )


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _heartbeat(client: Any) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('posguard_fleet_loop_heartbeat_timestamp_seconds{loop="diagnosis"}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no diagnosis heartbeat in /metrics")


@pytest.mark.postgres
def test_diagnosis_survives_a_database_outage_and_readiness_reports_it(
    outage_app: tuple[Any, FleetDB, str, dict[str, str]],
) -> None:
    client, db, app_name, creds = outage_app
    fault = {"kind": "fault", "code": "PRN.PAPER_OUT"}
    r = client.post("/api/v1/ingest", json=event("T1", 1, **fault), headers=_auth(creds["T1"]))
    assert r.status_code == 201, r.text
    _wait(lambda: _incidents(db, "T1") == 1, 20, "the first fault to become an incident")
    assert client.get("/readyz").status_code == 200

    # the outage: this test's connections are cut again and again for a second, and the
    # events table is out of reach until the end of the block; nothing else on the shared
    # server is touched
    admin = db.engine
    stop_killing = threading.Event()

    def kill_ours() -> None:
        until = time.monotonic() + 1.0  # connections dropped for a second
        while not stop_killing.is_set() and time.monotonic() < until:
            with admin.begin() as c:
                c.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :a AND pid <> pg_backend_pid()"
                    ),
                    {"a": app_name},
                )
            time.sleep(0.05)

    with admin.begin() as c:
        c.execute(text("ALTER TABLE events RENAME TO events_away"))
    killer = threading.Thread(target=kill_ours)
    killer.start()
    try:
        with capture_logs() as logs:
            _wait(
                lambda: "diagnosis" in client.get("/readyz").json().get("detail", ""),
                20,
                "readyz to report the diagnosis loop",
            )
            ready = client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["loops"]["diagnosis"]["state"] == "failing"
            frozen = _heartbeat(client)
            time.sleep(1.0)
            assert _heartbeat(client) == frozen  # the heartbeat goes stale, visibly
    finally:
        stop_killing.set()
        killer.join()
        with admin.begin() as c:
            c.execute(text("ALTER TABLE events_away RENAME TO events"))
    failed = [e for e in logs if e["event"] == "fleet.loop.failed" and e["loop"] == "diagnosis"]
    assert failed, "the outage never reached the diagnosis loop"
    assert len(failed) <= 3  # each cause once, not once per retry

    # after the outage: diagnosis resumes and a later fault becomes an incident
    _wait(lambda: client.get("/readyz").status_code == 200, 40, "readyz to recover")
    assert _heartbeat(client) > frozen
    r = client.post("/api/v1/ingest", json=event("T2", 1, **fault), headers=_auth(creds["T2"]))
    assert r.status_code == 201, r.text
    _wait(lambda: _incidents(db, "T2") == 1, 40, "the later fault to become an incident")
    metrics = client.get("/metrics").text
    assert 'posguard_fleet_loop_up{loop="diagnosis"} 1.0' in metrics
    assert any(
        line.startswith("posguard_fleet_loop_failures_total{") and 'loop="diagnosis"' in line
        for line in metrics.splitlines()
    )


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
