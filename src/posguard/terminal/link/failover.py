"""The host list: route each exchange to the first host whose breaker is closed.

A dead primary costs one failure (one connect or read timeout), then its breaker opens and
sales go straight to the backup. When the cool-down is over a *background* probe checks the
primary (never a sale's time); its success closes the breaker and traffic returns.

Only failures before the request left (DNS, connect, TLS) fail over within one exchange: once
a request may have reached a host, resending it elsewhere could charge twice, so the error
goes back to the engine, which queues a reversal.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from posguard.common.errors import LinkError
from posguard.common.events import EventKind
from posguard.iso8583.framing import LengthHeader
from posguard.terminal.config import BreakerConfig, HostEndpoint, Timeouts
from posguard.terminal.link.breaker import BreakerState, CircuitBreaker
from posguard.terminal.link.channel import Channel, maybe_delivered

Emit = Callable[..., object]
Probe = Callable[[Channel], Awaitable[None]]
# Builds the request for the host the link chose (by name); None: "no session with it yet".
Builder = Callable[[str], bytes | None]


class NoSession(Exception):  # noqa: N818 - a result, not an error: sign on to ``host`` first
    """The host the link chose has no session (working keys) yet; nothing was sent."""

    def __init__(self, host: str) -> None:
        super().__init__(f"no session with host {host}")
        self.host = host


async def connect_only(channel: Channel) -> None:
    """The default probe: a successful connect (and TLS handshake) is enough."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A response frame and where it came from."""

    payload: bytes
    host: str
    seconds: float


class HostLink:
    """Failover over an ordered host list with one :class:`CircuitBreaker` per host."""

    def __init__(
        self,
        hosts: Sequence[HostEndpoint],
        timeouts: Timeouts,
        *,
        breaker: BreakerConfig | None = None,
        header: LengthHeader = LengthHeader.BINARY2,
        probe: Probe = connect_only,
        emit: Emit | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not hosts:
            raise ValueError("at least one host is needed")
        self.hosts = list(hosts)
        self.timeouts = timeouts
        self.header = header
        self.probe = probe
        self._emit = emit
        breaker = breaker or BreakerConfig()
        self.breakers = {
            h.name: CircuitBreaker(
                failure_threshold=breaker.failure_threshold,
                open_seconds=breaker.open_seconds,
                max_open_seconds=breaker.max_open_seconds,
                clock=clock,
            )
            for h in self.hosts
        }
        self._probes: dict[str, asyncio.Task[None]] = {}
        self._faulted: dict[str, str] = {}  # host -> code of the fault currently open
        self.last_answer: Answer | None = None  # the newest answer: its host and round trip

    def channel(self, endpoint: HostEndpoint) -> Channel:
        return Channel(endpoint, self.timeouts, header=self.header)

    def preferred(self) -> str:
        """The name of the host the next exchange will try first."""
        return self._candidates()[0].name

    def available(self) -> list[str]:
        """The hosts whose breaker lets traffic through, in failover order."""
        return [h.name for h in self.hosts if self.breakers[h.name].allows_traffic()]

    def _candidates(self, only: str | None = None) -> list[HostEndpoint]:
        if only is not None:
            return [h for h in self.hosts if h.name == only]
        closed = [h for h in self.hosts if self.breakers[h.name].allows_traffic()]
        if closed:
            return closed
        # Every breaker is open: trying beats failing without a try.
        return list(self.hosts)

    def _start_due_probes(self) -> None:
        for h in self.hosts:
            b = self.breakers[h.name]
            if b.probe_due() and h.name not in self._probes:
                b.begin_probe()
                task = asyncio.get_running_loop().create_task(self._run_probe(h))
                self._probes[h.name] = task
                task.add_done_callback(self._forget_probe(h.name))

    def _forget_probe(self, name: str) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._probes.pop(name, None)

        return done

    async def _run_probe(self, endpoint: HostEndpoint) -> None:
        ch = self.channel(endpoint)
        try:
            await ch.connect()
            await self.probe(ch)
        except LinkError as exc:
            self._failed(endpoint, exc)
        else:
            self._succeeded(endpoint)
        finally:
            await ch.close()

    def _failed(self, endpoint: HostEndpoint, exc: LinkError) -> None:
        self.breakers[endpoint.name].record_failure()
        code = exc.code or "NET.CONNECTION_RESET"
        self._faulted[endpoint.name] = code
        if self._emit is not None:
            self._emit(
                EventKind.FAULT,
                code,
                host=endpoint.name,
                stage=str(exc.context.get("stage", "")),
                breaker=self.breakers[endpoint.name].state.value,
            )

    def _succeeded(self, endpoint: HostEndpoint) -> None:
        self.breakers[endpoint.name].record_success()
        code = self._faulted.pop(endpoint.name, None)
        if code is not None and self._emit is not None:
            self._emit(EventKind.FAULT_CLEARED, code, host=endpoint.name)

    async def open(self, *, only: str | None = None) -> Channel:
        """A connected channel to the best available host (or to host ``only``); LinkError
        (nothing sent) if none."""
        self._start_due_probes()
        first: LinkError | None = None
        for endpoint in self._candidates(only):
            ch = self.channel(endpoint)
            try:
                await ch.connect()
            except LinkError as exc:
                self._failed(endpoint, exc)
                first = first or exc
                continue
            return ch
        assert first is not None
        raise first

    async def exchange(
        self,
        payload: bytes | Builder,
        *,
        read_timeout: float | None = None,
        only: str | None = None,
    ) -> Answer:
        """Send one request and return its answer; see the module doc for failover rules.

        ``payload`` may be a builder called with the name of the host the link connected to
        (each host has its own session keys); when it returns None, :class:`NoSession` is
        raised and nothing is sent. ``only`` sends to that host (e.g. a sign-on to it)."""
        t0 = time.perf_counter()
        ch = await self.open(only=only)
        try:
            data = payload(ch.endpoint.name) if callable(payload) else payload
            if data is None:
                raise NoSession(ch.endpoint.name)
            await ch.send(data)
            answer = await ch.receive(read_timeout)
        except LinkError as exc:
            if maybe_delivered(exc):
                self._failed(ch.endpoint, exc)
            raise
        finally:
            await ch.close()
        self._succeeded(ch.endpoint)
        self.last_answer = Answer(
            payload=answer, host=ch.endpoint.name, seconds=time.perf_counter() - t0
        )
        return self.last_answer

    def state(self) -> dict[str, BreakerState]:
        return {name: b.state for name, b in self.breakers.items()}

    async def aclose(self) -> None:
        tasks = list(self._probes.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, LinkError):
                await t
