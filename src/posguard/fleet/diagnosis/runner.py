"""A diagnoser outside the API (``posguard fleet diagnose``: shard K of N, or the correlator),
supervised like the API's in-process diagnosis (:mod:`posguard.fleet.supervise`): a database
restart or a dropped connection fails one round, which is logged once with its cause and started
again with back-off on a fresh :class:`DiagnosisService` (it rebuilds its windows from the
database and resumes from its saved cursor), instead of ending the process.

The correlator holds the PostgreSQL advisory lock (:mod:`.leader`) while it runs; each start
first checks that the lock's connection is still alive and, if the server dropped it (and the
lock with it), waits to take the lock again before diagnosing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from posguard.fleet.context import FleetContext
from posguard.fleet.diagnosis.leader import AdvisoryLock
from posguard.fleet.diagnosis.service import DiagnosisService
from posguard.fleet.diagnosis.shard import ShardRole
from posguard.fleet.supervise import Beat, LoopRegistry, supervise


def loop_name(role: ShardRole) -> str:
    return f"diagnosis-{role.key}"


async def run_diagnoser(
    ctx: FleetContext,
    role: ShardRole,
    stop: asyncio.Event,
    *,
    poll_s: float,
    registry: LoopRegistry,
    lock: AdvisoryLock | None = None,
    backoff_s: float = 0.5,
    backoff_max_s: float = 30.0,
    say: Callable[[str], None] | None = None,
    name: str | None = None,
) -> None:
    """Diagnose as ``role`` until ``stop`` is set, restarting after any failure; ``say``
    prints the operator's progress lines (waiting for the lock, diagnosing); ``name`` is the
    supervised loop's (default ``diagnosis-K/N`` or ``diagnosis-correlator``)."""

    async def take_lock(beat: Beat) -> bool:
        assert lock is not None
        if await asyncio.to_thread(lock.alive):
            return True
        if say is not None:
            say("waiting for the correlator lock / 等待关联分析锁")
        while not stop.is_set():
            if await asyncio.to_thread(lock.try_acquire):
                return True
            beat()  # waiting for the lock is this loop's work: alive, not dead
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        return False

    async def body(beat: Beat) -> None:
        if lock is not None and not await take_lock(beat):
            return  # asked to stop while waiting
        service = DiagnosisService(
            ctx.sessions,
            rules=ctx.rules,
            catalog=ctx.catalog,
            clock=ctx.clock,
            default_heartbeat_s=ctx.settings.default_heartbeat_interval_s,
            role=role,
        )
        if say is not None:
            say(f"diagnosing as {role.key} / 诊断分片 {role.key}")
        await service.run(
            stop, poll_s=poll_s, beat=beat, holds=None if lock is None else lock.alive
        )

    await supervise(
        name or loop_name(role),
        body,
        stop,
        registry=registry,
        stale_after_s=ctx.settings.loop_stale_after_s,
        backoff_s=backoff_s,
        backoff_max_s=backoff_max_s,
    )
