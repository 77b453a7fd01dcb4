"""Failover with a breaker per host: a dead primary costs one timeout, probes bring it back."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Any

import pytest

from posguard.common.errors import LinkError
from posguard.common.events import EventKind
from posguard.common.testing import until
from posguard.terminal.config import BreakerConfig, HostEndpoint, Timeouts
from posguard.terminal.link.breaker import BreakerState
from posguard.terminal.link.failover import HostLink

FAST = Timeouts(dns=1.0, connect=0.3, read=0.3)


def tagged_echo(tag: bytes) -> Any:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            n = struct.unpack(">H", await reader.readexactly(2))[0]
            body = tag + await reader.readexactly(n)
            writer.write(struct.pack(">H", len(body)) + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return handler


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[EventKind, str | None, dict[str, Any]]] = []

    def __call__(self, kind: EventKind, code: str | None = None, **data: Any) -> None:
        self.items.append((kind, code, data))


async def test_dead_primary_costs_one_timeout_then_probe_brings_it_back() -> None:
    primary = socket.socket()
    primary.bind(("127.0.0.1", 0))
    primary.listen(0)
    filler = socket.create_connection(primary.getsockname(), timeout=1)  # black-holes new SYNs
    backup = await asyncio.start_server(tagged_echo(b"B:"), "127.0.0.1", 0)
    hosts = [
        HostEndpoint(name="primary", host="127.0.0.1", port=primary.getsockname()[1]),
        HostEndpoint(name="backup", host="127.0.0.1", port=backup.sockets[0].getsockname()[1]),
    ]
    events = Events()
    link = HostLink(hosts, FAST, breaker=BreakerConfig(open_seconds=0.4), emit=events)
    revived: asyncio.Server | None = None
    try:
        t0 = time.perf_counter()
        first = await link.exchange(b"sale1")
        first_s = time.perf_counter() - t0
        assert (first.payload, first.host) == (b"B:sale1", "backup")
        assert first_s >= FAST.connect  # paid one connect timeout ...
        assert link.state()["primary"] is BreakerState.OPEN
        t0 = time.perf_counter()
        second = await link.exchange(b"sale2")
        assert second.host == "backup"
        assert time.perf_counter() - t0 < FAST.connect  # ... and only once
        faults = [(k, c, d["host"]) for k, c, d in events.items if k is EventKind.FAULT]
        assert faults == [(EventKind.FAULT, "NET.CONNECT_TIMEOUT", "primary")]

        # The primary comes back; after the cool-down a background probe closes its breaker.
        filler.close()
        revived = await asyncio.start_server(tagged_echo(b"P:"), sock=primary)
        await asyncio.sleep(0.45)
        third = await link.exchange(b"sale3")
        assert third.host == "backup"  # the sale never waits for the probe
        await until(
            lambda: link.state()["primary"] is BreakerState.CLOSED, timeout=3, interval=0.01
        )
        fourth = await link.exchange(b"sale4")
        assert (fourth.payload, fourth.host) == (b"P:sale4", "primary")
        assert (EventKind.FAULT_CLEARED, "NET.CONNECT_TIMEOUT", {"host": "primary"}) in events.items
    finally:
        await link.aclose()
        backup.close()
        if revived is not None:
            revived.close()
        else:
            primary.close()


async def test_failed_probe_keeps_traffic_on_backup() -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens: refused
    backup = await asyncio.start_server(tagged_echo(b"B:"), "127.0.0.1", 0)
    hosts = [
        HostEndpoint(name="primary", host="127.0.0.1", port=dead_port),
        HostEndpoint(name="backup", host="127.0.0.1", port=backup.sockets[0].getsockname()[1]),
    ]
    link = HostLink(hosts, FAST, breaker=BreakerConfig(open_seconds=0.1, max_open_seconds=1))
    try:
        assert (await link.exchange(b"x")).host == "backup"
        await asyncio.sleep(0.15)
        assert (await link.exchange(b"y")).host == "backup"
        await until(lambda: link.state()["primary"] is BreakerState.OPEN, timeout=3, interval=0.01)
        assert link.breakers["primary"]._open_seconds == pytest.approx(0.2)  # backed off
    finally:
        await link.aclose()
        backup.close()


async def test_answer_lost_after_send_is_not_resent_elsewhere() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        await asyncio.sleep(1)
        writer.close()

    primary = await asyncio.start_server(swallow, "127.0.0.1", 0)
    calls: list[bytes] = []

    async def counting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        calls.append(b"hit")
        await tagged_echo(b"B:")(reader, writer)

    backup = await asyncio.start_server(counting, "127.0.0.1", 0)
    hosts = [
        HostEndpoint(name="primary", host="127.0.0.1", port=primary.sockets[0].getsockname()[1]),
        HostEndpoint(name="backup", host="127.0.0.1", port=backup.sockets[0].getsockname()[1]),
    ]
    link = HostLink(hosts, FAST)
    try:
        with pytest.raises(LinkError) as info:
            await link.exchange(b"sale")
        assert info.value.code == "NET.READ_TIMEOUT"
        assert calls == []  # never re-sent: it may have charged on the primary
        assert (await link.exchange(b"next")).host == "backup"  # the breaker moved traffic
    finally:
        await link.aclose()
        primary.close()
        backup.close()


async def test_all_hosts_down_raises_first_failure() -> None:
    ports = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        s.close()
    hosts = [HostEndpoint(name=f"h{i}", host="127.0.0.1", port=p) for i, p in enumerate(ports)]
    link = HostLink(hosts, FAST)
    with pytest.raises(LinkError) as info:
        await link.exchange(b"x")
    assert info.value.code == "NET.CONNECT_REFUSED"
    assert info.value.context["stage"] == "connect"
    await link.aclose()
