"""Supervised long-running loops: restarted with back-off, each failure logged once with its
cause, liveness exposed as a heartbeat.

A fleet process runs a few loops that must outlive a database or broker restart (diagnosis,
MQTT consume, command dispatch). :func:`supervise` runs one of them:

- ``body(beat)`` is started; it calls ``beat()`` whenever it has done a round of work (or
  waited idle without error). When it raises, the supervisor waits (``backoff_s`` doubling up
  to ``backoff_max_s``) and starts a *fresh* body: in-memory state of a failed round is not
  trusted again (the diagnosis loop rebuilds its windows from the database).
- The first failure is logged at ERROR with its cause (``fleet.loop.failed``); while the loop
  keeps failing with a cause already logged it is not logged again, only counted; a new cause
  is logged once; the first success after failures logs ``fleet.loop.recovered`` with the
  count (and the next outage is logged afresh).
- Liveness: ``posguard_fleet_loop_heartbeat_timestamp_seconds{loop}`` (wall-clock seconds of
  the last beat), ``posguard_fleet_loop_up{loop}`` (1 running and beating, 0 failing or
  stopped) and ``posguard_fleet_loop_failures_total{loop, error}``. A loop that hangs or keeps
  failing stops beating, and its heartbeat ages visibly: readiness (:meth:`LoopRegistry.dead`)
  and the shipped alert rules both compare that age with the loop's ``stale_after_s``.

>>> reg = LoopRegistry()
>>> h = reg.register("demo", stale_after_s=30, now=1000.0)
>>> reg.dead(now=1010.0)
[]
>>> [d.name for d in reg.dead(now=1031.0)]
['demo']
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

import structlog

from posguard.fleet.metrics import LOOP_FAILURES, LOOP_HEARTBEAT, LOOP_STALE_AFTER, LOOP_UP

log = structlog.get_logger(__name__)

Beat = Callable[[], None]
LoopBody = Callable[[Beat], Awaitable[None]]


class LoopState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    FAILING = "failing"  # the last round raised; waiting to start again
    STOPPED = "stopped"  # asked to stop, or gave up


def describe(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters): a cause fit for one log
    line, without the SQL statement or parameters SQLAlchemy appends."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    cause = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return cause[:300]


@dataclass
class LoopHealth:
    """What the process knows about one of its loops."""

    name: str
    stale_after_s: float
    last_beat: float  # wall-clock seconds (time.time())
    state: LoopState = LoopState.STARTING
    failures: int = 0  # in a row, since the last beat
    last_error: str | None = None
    restarts: int = 0
    causes: set[str] = field(default_factory=set)  # logged since the last beat

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.last_beat

    def is_dead(self, now: float | None = None) -> bool:
        """No beat for longer than ``stale_after_s``: hung, or failing round after round."""
        if self.state is LoopState.STOPPED:
            return False
        return self.age(now) > self.stale_after_s

    def beat(self, now: float | None = None) -> None:
        self.last_beat = time.time() if now is None else now
        LOOP_HEARTBEAT.labels(self.name).set(self.last_beat)
        if self.state is not LoopState.RUNNING:
            self.state = LoopState.RUNNING
            LOOP_UP.labels(self.name).set(1)
        if self.failures:
            log.info(
                "fleet.loop.recovered",
                loop=self.name,
                failures=self.failures,
                last_error=self.last_error,
            )
            self.failures = 0
            self.last_error = None
            self.causes.clear()

    def public(self, now: float | None = None) -> dict[str, object]:
        return {
            "state": self.state.value,
            "heartbeat_age_s": round(self.age(now), 3),
            "stale_after_s": self.stale_after_s,
            "failures": self.failures,
            "last_error": self.last_error,
        }


@dataclass
class LoopRegistry:
    """The loops of this process, for readiness and tests."""

    loops: dict[str, LoopHealth] = field(default_factory=dict)

    def register(self, name: str, *, stale_after_s: float, now: float | None = None) -> LoopHealth:
        health = LoopHealth(name, stale_after_s, time.time() if now is None else now)
        self.loops[name] = health
        LOOP_HEARTBEAT.labels(name).set(health.last_beat)
        LOOP_STALE_AFTER.labels(name).set(stale_after_s)
        LOOP_UP.labels(name).set(0)
        return health

    def dead(self, now: float | None = None) -> list[LoopHealth]:
        return [h for h in self.loops.values() if h.is_dead(now)]


async def supervise(
    name: str,
    body: LoopBody,
    stop: asyncio.Event,
    *,
    registry: LoopRegistry,
    stale_after_s: float = 60.0,
    backoff_s: float = 0.5,
    backoff_max_s: float = 30.0,
) -> None:
    """Run ``body`` until ``stop`` is set, starting it again after any exception (back-off
    ``backoff_s`` doubling to ``backoff_max_s``, reset by a beat). A body that returns while
    ``stop`` is not set is started again too (a loop must not end by itself)."""
    health = registry.register(name, stale_after_s=stale_after_s)
    delay = backoff_s

    def beat() -> None:
        nonlocal delay
        health.beat()
        delay = backoff_s

    while not stop.is_set():
        try:
            await body(beat)
            if stop.is_set():
                break
            raise RuntimeError("loop returned without being asked to stop")
        except asyncio.CancelledError:
            health.state = LoopState.STOPPED
            LOOP_UP.labels(name).set(0)
            raise
        except Exception as exc:
            cause = describe(exc)
            LOOP_FAILURES.labels(name, type(exc).__name__).inc()
            if cause not in health.causes:  # two causes taking turns: each logged once
                health.causes.add(cause)
                log.error(
                    "fleet.loop.failed",
                    loop=name,
                    error=cause,
                    retry_in_s=delay,
                    failures=health.failures + 1,
                )
            health.failures += 1
            health.last_error = cause
            health.state = LoopState.FAILING
            health.restarts += 1
            LOOP_UP.labels(name).set(0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, backoff_max_s)
    health.state = LoopState.STOPPED
    health.last_error = None
    LOOP_UP.labels(name).set(0)


async def beat_while(
    beat: Beat, alive: Callable[[], bool], stop: asyncio.Event, every_s: float
) -> None:
    """Beat every ``every_s`` while ``alive()`` holds, until ``stop`` is set: liveness for a
    loop that waits (a subscribed consumer) and has no round of work to beat after."""
    while not stop.is_set():
        if alive():
            beat()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
