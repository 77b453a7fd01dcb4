"""The telemetry agent loop: drain the outbox through a publisher, back off, send heartbeats.

It runs beside the sale path and never in it: ``Outbox.emit`` only writes locally and
wakes this loop. When the fleet is unreachable the events stay in the outbox and the
loop waits with exponential backoff and jitter (``Backoff``) before the next try.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from posguard.common.events import EventKind
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.agent.publish import Publisher, PublishError
from posguard.terminal.link.backoff import Backoff as Delays


@dataclass
class Backoff(Delays):
    """The link's exponential backoff with jitter, counting its own attempts: the n-th
    ``next()`` wait is in [d/2, d], d = min(cap, base*factor**n).

    >>> import random
    >>> b = Backoff(base=1.0, factor=2.0, cap=8.0, rng=random.Random(1))
    >>> [0.5 <= b.next() <= 1.0, 1.0 <= b.next() <= 2.0, 2.0 <= b.next() <= 4.0]
    [True, True, True]
    >>> b.reset(); b.attempt
    0
    """

    attempt: int = 0

    def next(self) -> float:
        wait = self.delay(self.attempt)
        self.attempt += 1
        return wait

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class AgentState:
    """What the agent is doing, for doctor and the heartbeat."""

    sent: int = 0
    failures: int = 0
    last_error_code: str | None = None
    last_error: str | None = None
    next_retry_in: float = 0.0
    connected: bool = False


class TelemetryAgent:
    """Moves events from an :class:`Outbox` to the fleet through a :class:`Publisher`."""

    def __init__(
        self,
        outbox: Outbox,
        publisher: Publisher,
        *,
        batch_size: int = 100,
        idle_interval: float = 1.0,
        backoff: Backoff | None = None,
        heartbeat_interval: float | None = 60.0,
        heartbeat_data: Callable[[], dict[str, Any]] | None = None,
        command_poll_interval: float = 5.0,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self.backoff = backoff or Backoff()
        self.heartbeat_interval = heartbeat_interval
        self._heartbeat_data = heartbeat_data
        self.command_poll_interval = command_poll_interval
        self.state = AgentState()
        self._started = time.monotonic()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        outbox.on_emit(self._poke)

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    async def drain_once(self) -> int:
        """Send one batch; returns how many were acknowledged. Raises PublishError."""
        batch = self.outbox.peek(self.batch_size)
        if not batch:
            return 0
        try:
            await self.publisher.publish(batch)
        except PublishError as exc:
            if exc.too_large and self.batch_size > 1:
                self.batch_size = max(1, self.batch_size // 2)
            raise
        self.outbox.ack(e.seq for e in batch)
        self.state.sent += len(batch)
        return len(batch)

    def emit_heartbeat(self) -> None:
        data: dict[str, Any] = {
            "uptime_s": round(time.monotonic() - self._started, 1),
            "interval_s": self.heartbeat_interval,
            "pending_events": self.outbox.pending(),
            "dropped_events": self.outbox.dropped,
        }
        if self._heartbeat_data is not None:
            data.update(self._heartbeat_data())
        self.outbox.emit(EventKind.HEARTBEAT, **data)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set; never raises for an unreachable fleet."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        next_beat = time.monotonic()
        next_poll = time.monotonic()
        poll = getattr(self.publisher, "poll_commands", None)
        try:
            while not stop.is_set():
                if self.heartbeat_interval is not None and time.monotonic() >= next_beat:
                    self.emit_heartbeat()
                    next_beat = time.monotonic() + self.heartbeat_interval
                if poll is not None and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.command_poll_interval
                    with contextlib.suppress(PublishError):  # the drain below reports it
                        await poll()
                try:
                    sent = await self.drain_once()
                except PublishError as exc:
                    self.state.failures += 1
                    self.state.connected = False
                    self.state.last_error_code = exc.code
                    self.state.last_error = str(exc)
                    self.state.next_retry_in = self.backoff.next()
                    await self._sleep(stop, self.state.next_retry_in, wakeable=False)
                    continue
                self.state.connected = True
                self.state.next_retry_in = 0.0
                self.backoff.reset()
                if sent < self.batch_size:
                    await self._sleep(stop, self.idle_interval, wakeable=True)
        finally:
            await self.publisher.close()

    async def _sleep(self, stop: asyncio.Event, seconds: float, *, wakeable: bool) -> None:
        assert self._wake is not None
        waiters = [asyncio.ensure_future(stop.wait())]
        if wakeable:
            self._wake.clear()
            waiters.append(asyncio.ensure_future(self._wake.wait()))
        _, pending = await asyncio.wait(
            waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for w in waiters:
            w.cancel()
        for w in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await w


class AgentThread:
    """Runs a :class:`TelemetryAgent` on its own event loop in a daemon thread (sync runtimes)."""

    def __init__(self, make_agent: Callable[[], TelemetryAgent]) -> None:
        self._make_agent = make_agent
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.agent: TelemetryAgent | None = None
        self._thread = threading.Thread(target=self._main, name="telemetry-agent", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self.agent = self._make_agent()
            self._ready.set()
            await self.agent.run(self._stop)

        asyncio.run(main())

    def start(self, timeout: float = 5.0) -> None:
        self._thread.start()
        self._ready.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
