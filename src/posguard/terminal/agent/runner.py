"""The telemetry agent loop: drain the outbox through a publisher, back off, send heartbeats.

It runs beside the sale path and never in it: ``Outbox.emit`` only writes locally and
wakes this loop. When the fleet is unreachable the events stay in the outbox and the
loop waits with exponential backoff and jitter (``Backoff``) before the next try.

Delivery is confirmed end to end: an event leaves the outbox only when the fleet confirms it
stored it (:mod:`posguard.common.event_ack`: in the HTTP answer, or later on the MQTT
``acks`` topic), never on a broker's PUBACK. Sent events wait for their confirmation; one
still unconfirmed after ``confirm_timeout`` is sent again, and each further resend of it
waits twice as long (with jitter, at most ``confirm_timeout_cap``), so a broker that dropped
messages, a worker killed mid-batch or a lost confirmation only delays events. At most
``max_unconfirmed`` events are out at a time, so a fleet that is behind is not buried. A
resend is stored once (``(terminal_id, seq)``). After a restart everything still in the
outbox counts as never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from posguard.common.event_ack import Ack
from posguard.common.events import Event, EventKind
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


@dataclass(slots=True)
class _Pending:
    """An event sent and not yet confirmed: when it is due again (0: at once, presumed lost),
    how often it was sent, and when last."""

    due: float
    sends: int
    sent_at: float


@dataclass
class AgentState:
    """What the agent is doing, for doctor and the heartbeat."""

    sent: int = 0
    """Events handed to the publisher (resends included)."""
    resent: int = 0
    """Events sent again because no confirmation came in time."""
    confirmed: int = 0
    """Events the fleet confirmed (removed from the outbox)."""
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
        confirm_timeout: float = 10.0,
        confirm_timeout_cap: float = 300.0,
        max_unconfirmed: int = 2000,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self.backoff = backoff or Backoff()
        self.heartbeat_interval = heartbeat_interval
        self._heartbeat_data = heartbeat_data
        self.command_poll_interval = command_poll_interval
        # the n-th resend of an event waits for its confirmation in [t/2, t], t = timeout * 2^n;
        # the first wait is the full timeout
        self.confirm_timeout = confirm_timeout
        self._resend_waits = Delays(base=confirm_timeout, factor=2.0, cap=confirm_timeout_cap)
        self.max_unconfirmed = max_unconfirmed
        self.state = AgentState()
        self._started = time.monotonic()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # events sent and awaiting confirmation, by seq
        self._unconfirmed: dict[int, _Pending] = {}
        # unconfirmed this long after a later send was confirmed: presumed lost, sent again
        self._lost_after = min(1.0, confirm_timeout / 4)
        self._sent_upto = 0  # the highest seq sent by this process
        outbox.on_emit(self._poke)
        if hasattr(publisher, "on_confirm"):
            publisher.on_confirm = self.confirm

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

    @property
    def unconfirmed(self) -> int:
        """Events sent and not yet confirmed by the fleet."""
        return len(self._unconfirmed)

    def confirm(self, ack: Ack) -> None:
        """The fleet stored these events: forget them (called from the publisher's listener).

        An event still unconfirmed that was sent well before one confirmed now was most likely
        lost on the way (a broker drops what overflows a queue; one worker's session delivers
        in order): it is due again at once, not after its timeout."""
        removed = self.outbox.ack_ranges(ack.ranges)
        self.state.confirmed += removed
        latest: float | None = None
        for first, last in ack.ranges:
            if last - first < len(self._unconfirmed):
                seqs: list[int] = [s for s in range(first, last + 1) if s in self._unconfirmed]
            else:
                seqs = [s for s in self._unconfirmed if first <= s <= last]
            for seq in seqs:
                sent_at = self._unconfirmed.pop(seq).sent_at
                latest = sent_at if latest is None else max(latest, sent_at)
        if latest is not None:
            before = latest - self._lost_after
            for pending in self._unconfirmed.values():
                if pending.sent_at < before:
                    pending.due = 0.0
        self._poke()

    def _next_batch(self) -> list[Event]:
        """Events due again first, else the next new ones while fewer than ``max_unconfirmed``
        are out. A timeout resends only the oldest ``batch_size`` due events (a probe) and
        holds the others back for the probe's wait: while the fleet is away one batch goes
        out per wait, not the whole window, and once the probe is confirmed :meth:`confirm`
        makes the ones held back due at once."""
        now = time.monotonic()
        due = sorted(s for s, p in self._unconfirmed.items() if p.due <= now)
        if due:
            wanted, held = due[: self.batch_size], due[self.batch_size :]
            batch = self.outbox.get(wanted)
            for seq in set(wanted) - {e.seq for e in batch}:
                del self._unconfirmed[seq]  # confirmed meanwhile, or dropped for room
            if batch:
                sends = max(self._unconfirmed[e.seq].sends for e in batch)
                wait = self._resend_waits.delay(sends)
                for seq in held:
                    if self._unconfirmed[seq].due > 0.0:  # timed out, not presumed lost
                        self._unconfirmed[seq].due = now + wait
                return batch
        room = self.max_unconfirmed - len(self._unconfirmed)
        if room <= 0:
            return []
        return self.outbox.peek(min(self.batch_size, room), after=self._sent_upto)

    def _next_due_in(self) -> float | None:
        if not self._unconfirmed:
            return None
        return max(0.0, min(p.due for p in self._unconfirmed.values()) - time.monotonic())

    async def drain_once(self) -> int:
        """Send one batch (events due again first); returns how many were sent. They stay in
        the outbox until the fleet confirms them. Raises PublishError."""
        batch = self._next_batch()
        if not batch:
            return 0
        now = time.monotonic()
        # new events are awaited from now on: a confirmation may come before publish returns
        fresh = [e.seq for e in batch if e.seq not in self._unconfirmed]
        for seq in fresh:
            self._unconfirmed[seq] = _Pending(math.inf, 0, now)
        try:
            confirmed = await self.publisher.publish(batch)
        except PublishError as exc:
            for seq in fresh:  # not sent after all: they stay new
                self._unconfirmed.pop(seq, None)
            if exc.too_large and self.batch_size > 1:
                self.batch_size = max(1, self.batch_size // 2)
            raise
        now = time.monotonic()
        for e in batch:
            pending = self._unconfirmed.get(e.seq)
            if pending is None:  # confirmed while this send was under way
                continue
            if pending.sends:
                self.state.resent += 1
            pending.due = now + (
                self.confirm_timeout
                if pending.sends == 0
                else self._resend_waits.delay(pending.sends)
            )
            pending.sends += 1
            pending.sent_at = now
        self._sent_upto = max(self._sent_upto, batch[-1].seq)
        self.state.sent += len(batch)
        if confirmed:
            self.confirm(Ack(self.outbox.terminal_id, tuple(confirmed)))
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
                self._wake.clear()  # what wakes it from here on (an emit, a confirmation) counts
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
                    due = self._next_due_in()
                    idle = self.idle_interval if due is None else min(due, self.idle_interval)
                    await self._sleep(stop, idle, wakeable=True)
        finally:
            await self.publisher.close()

    async def _sleep(self, stop: asyncio.Event, seconds: float, *, wakeable: bool) -> None:
        assert self._wake is not None
        waiters = [asyncio.ensure_future(stop.wait())]
        if wakeable:
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
