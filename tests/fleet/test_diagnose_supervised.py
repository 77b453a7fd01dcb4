"""`posguard fleet diagnose` runs its DiagnosisService supervised (posguard.fleet.diagnosis.runner),
like the API's in-process diagnosis: against the real PostgreSQL, this test's own connections
are dropped (pg_terminate_backend on backends with this test's application_name only, never
the shared server) and the events table is out of reach for a while; the shard keeps running,
logs the failure, and a fault stored afterwards becomes an incident. The correlator takes its
advisory lock again when the server dropped the connection that held it."""

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

from posguard.fleet.config import FleetSettings
from posguard.fleet.context import FleetContext
from posguard.fleet.diagnosis.leader import AdvisoryLock
from posguard.fleet.diagnosis.runner import loop_name, run_diagnoser
from posguard.fleet.diagnosis.shard import ShardRole
from posguard.fleet.supervise import LoopRegistry, LoopState

from .conftest import FleetDB, event, register

pytestmark = pytest.mark.postgres


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Diagnoser:
    """run_diagnoser in a thread of its own, over a context whose connections carry a unique
    application_name (so the test drops exactly its own)."""

    def __init__(self, db: FleetDB, role: ShardRole) -> None:
        self.app_name = f"pgf23-{uuid.uuid4().hex[:10]}"
        settings = FleetSettings(
            database_url=f"{db.url}&application_name={self.app_name}",
            jwt_secret="s" * 40,  # type: ignore[arg-type]
            loop_stale_after_s=1.0,
        )
        self.ctx = FleetContext.build(settings)
        self.role = role
        self.registry = LoopRegistry()
        # a key of this test's own: advisory locks are per database, shared with other schemas
        self.lock_key = 1 + uuid.uuid4().int % (2**31 - 2)
        self.lock = AdvisoryLock(self.ctx.engine, self.lock_key) if role.correlate else None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            await run_diagnoser(
                self.ctx,
                self.role,
                self._stop,
                poll_s=0.05,
                registry=self.registry,
                lock=self.lock,
                backoff_s=0.05,
                backoff_max_s=0.2,
            )

        try:
            asyncio.run(main())
        except BaseException as exc:
            self.error = exc

    @property
    def state(self) -> LoopState | None:
        health = self.registry.loops.get(loop_name(self.role))
        return None if health is None else health.state

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(20)
        if self.lock is not None:
            self.lock.release()
        self.ctx.close()


@pytest.fixture
def shard(pg_db: FleetDB) -> Iterator[Diagnoser]:
    for t in ("T1", "T2"):
        register(pg_db, t)
    d = Diagnoser(pg_db, ShardRole.parse(0, 1))
    d.thread.start()
    yield d
    d.stop()


def _incidents(db: FleetDB, terminal_id: str) -> int:
    with db.engine.connect() as c:
        return int(
            c.execute(
                text("SELECT count(*) FROM incidents WHERE terminal_id = :t"), {"t": terminal_id}
            ).scalar_one()
        )


def _store_fault(d: Diagnoser, terminal_id: str) -> None:
    (res,) = d.ctx.store.store(
        [event(terminal_id, 1, kind="fault", code="PRN.PAPER_OUT")], transport="test"
    )
    assert res.outcome.value == "stored", res.reason


def _outage(db: FleetDB, d: Diagnoser) -> None:
    """Drop this diagnoser's connections for a second, with the events table out of reach,
    until its loop reports a failure; then bring the table back."""
    stop_killing = threading.Event()

    def kill_ours() -> None:
        until = time.monotonic() + 1.0
        while not stop_killing.is_set() and time.monotonic() < until:
            with db.engine.begin() as c:
                c.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :a AND pid <> pg_backend_pid()"
                    ),
                    {"a": d.app_name},
                )
            time.sleep(0.05)

    with db.engine.begin() as c:
        c.execute(text("ALTER TABLE events RENAME TO events_away"))
    killer = threading.Thread(target=kill_ours)
    killer.start()
    try:
        _wait(lambda: d.state is LoopState.FAILING, 20, "the diagnoser to see the outage")
    finally:
        stop_killing.set()
        killer.join()
        with db.engine.begin() as c:
            c.execute(text("ALTER TABLE events_away RENAME TO events"))


def test_a_shard_survives_a_database_outage_and_diagnoses_afterwards(
    pg_db: FleetDB, shard: Diagnoser
) -> None:
    _store_fault(shard, "T1")
    _wait(lambda: _incidents(pg_db, "T1") == 1, 20, "the first fault to become an incident")
    with capture_logs() as logs:
        _outage(pg_db, shard)
        _wait(lambda: shard.state is LoopState.RUNNING, 30, "the shard to recover")
    assert shard.thread.is_alive()
    assert shard.error is None
    failed = [e for e in logs if e["event"] == "fleet.loop.failed"]
    assert failed
    assert all(e["loop"] == "diagnosis-0/1" for e in failed)
    assert any(e["event"] == "fleet.loop.recovered" for e in logs)
    _store_fault(shard, "T2")
    _wait(lambda: _incidents(pg_db, "T2") == 1, 30, "a later fault to become an incident")


def _lock_holder(db: FleetDB, key: int) -> str | None:
    """The application_name of the backend holding the correlator lock, if any."""
    with db.engine.connect() as c:
        return c.execute(
            text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND ((l.classid::bigint << 32) | l.objid::bigint) = :k"
            ),
            {"k": key},
        ).scalar()


def test_the_correlator_takes_its_lock_again_after_the_server_dropped_it(pg_db: FleetDB) -> None:
    d = Diagnoser(pg_db, ShardRole.correlator())
    d.thread.start()
    try:
        _wait(lambda: d.state is LoopState.RUNNING, 30, "the correlator to start")
        assert _lock_holder(pg_db, d.lock_key) == d.app_name
        _outage(pg_db, d)
        _wait(lambda: d.state is LoopState.RUNNING, 30, "the correlator to recover")
        _wait(
            lambda: _lock_holder(pg_db, d.lock_key) == d.app_name, 10, "the lock to be held again"
        )
        assert d.thread.is_alive()
        assert d.error is None
    finally:
        d.stop()
