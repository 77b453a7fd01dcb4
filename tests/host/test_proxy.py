"""Every proxy fault, shown on the wire between a raw client and a frame-echo upstream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from posguard.common.errors import LinkError
from posguard.host.faults import Fault, FaultKind
from posguard.host.proxy import FaultProxy
from posguard.host.testing import running_proxy
from posguard.iso8583.framing import frame, read_frame
from posguard.terminal.config import HostEndpoint, Timeouts
from posguard.terminal.link.channel import Channel, maybe_delivered

FRAME = frame(b"0200" + bytes(range(48, 48 + 60)))


class EchoUpstream:
    """Answers every 2-byte-length frame with the same frame; remembers what it received."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _on(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                body = await read_frame(reader)
                self.received.append(body)
                writer.write(frame(body))
                await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> EchoUpstream:
        self._server = await asyncio.start_server(self._on, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


@pytest.fixture
async def upstream() -> AsyncIterator[EchoUpstream]:
    async with EchoUpstream() as up:
        yield up


@pytest.fixture
async def proxy(upstream: EchoUpstream) -> AsyncIterator[FaultProxy]:
    async with running_proxy(upstream.port) as p:
        yield p


async def _connect(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def _read_all(reader: asyncio.StreamReader, timeout: float = 2.0) -> bytes:
    data = b""
    async with asyncio.timeout(timeout):
        while chunk := await reader.read(4096):
            data += chunk
    return data


async def test_no_fault_is_transparent(proxy: FaultProxy, upstream: EchoUpstream) -> None:
    reader, writer = await _connect(proxy)
    writer.write(FRAME + FRAME)
    assert await reader.readexactly(2 * len(FRAME)) == FRAME + FRAME
    assert upstream.received == [FRAME[2:], FRAME[2:]]
    writer.close()


async def test_refuse_resets_each_accepted_connection(proxy: FaultProxy) -> None:
    proxy.set_fault(Fault(kind="refuse"))
    reader, writer = await _connect(proxy)
    writer.write(FRAME)
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(1), 2)
    assert proxy.stats["refused"] == 1
    writer.close()


async def test_hard_refuse_closes_the_listener_until_cleared(proxy: FaultProxy) -> None:
    proxy.set_fault(Fault(kind="refuse", hard=True))
    with pytest.raises(ConnectionRefusedError):
        await _connect(proxy)
    proxy.clear()
    for _ in range(50):  # the listener reopens on the same port
        await asyncio.sleep(0.01)
        try:
            reader, writer = await _connect(proxy)
            break
        except ConnectionRefusedError:
            continue
    writer.write(FRAME)
    assert await asyncio.wait_for(reader.readexactly(len(FRAME)), 2) == FRAME
    writer.close()


async def test_blackhole_reads_and_never_answers(proxy: FaultProxy, upstream: EchoUpstream) -> None:
    proxy.set_fault(Fault(kind="blackhole"))
    reader, writer = await _connect(proxy)
    writer.write(FRAME)
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.3)
    assert upstream.received == []
    writer.close()


async def test_delay_holds_each_frame(proxy: FaultProxy) -> None:
    proxy.set_fault(Fault(kind="delay", delay_ms=150, jitter_ms=20, seed=3, direction="response"))
    reader, writer = await _connect(proxy)
    t0 = time.perf_counter()
    writer.write(FRAME)
    assert await asyncio.wait_for(reader.readexactly(len(FRAME)), 2) == FRAME
    assert time.perf_counter() - t0 >= 0.13
    writer.close()


async def test_drop_response_forwards_request_and_swallows_answer(
    proxy: FaultProxy, upstream: EchoUpstream
) -> None:
    proxy.set_fault(Fault(kind="drop_response", frames=1))
    reader, writer = await _connect(proxy)
    writer.write(FRAME)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.3)
    assert upstream.received == [FRAME[2:]]  # the host did see (and act on) the request
    writer.write(FRAME)  # the fault covered one frame: the next answer comes through
    assert await asyncio.wait_for(reader.readexactly(len(FRAME)), 2) == FRAME
    writer.close()


async def test_reset_mid_frame_sends_a_prefix_then_rst(proxy: FaultProxy) -> None:
    proxy.set_fault(Fault(kind="reset_mid_frame", after_bytes=10))
    reader, writer = await _connect(proxy)
    writer.write(FRAME)
    got = bytearray()

    async def read_until_reset() -> None:
        async with asyncio.timeout(2):
            while chunk := await reader.read(4096):
                got.extend(chunk)

    with pytest.raises(ConnectionResetError):  # an RST, not a clean EOF
        await read_until_reset()
    assert bytes(got) == FRAME[:10]
    writer.close()


async def test_slice_delivers_a_frame_in_pieces(proxy: FaultProxy) -> None:
    proxy.set_fault(Fault(kind="slice", pieces=4, piece_delay_ms=40))
    reader, writer = await _connect(proxy)
    writer.write(FRAME)
    pieces: list[bytes] = []
    async with asyncio.timeout(2):
        while sum(map(len, pieces)) < len(FRAME):
            pieces.append(await reader.read(4096))
    assert len(pieces) == 4
    assert b"".join(pieces) == FRAME
    writer.close()


async def test_corrupt_flips_the_byte_at_the_position(proxy: FaultProxy) -> None:
    proxy.set_fault(Fault(kind="corrupt", position=7, corrupt_bytes=2))
    reader, writer = await _connect(proxy)
    writer.write(FRAME)
    got = await asyncio.wait_for(reader.readexactly(len(FRAME)), 2)
    assert [i for i in range(len(FRAME)) if got[i] != FRAME[i]] == [7, 8]
    writer.close()


async def test_corrupt_random_is_repeatable_with_a_seed(upstream: EchoUpstream) -> None:
    results = []
    for _ in range(2):
        async with running_proxy(upstream.port) as p:
            p.set_fault(Fault(kind="corrupt", seed=42, corrupt_bytes=3))
            reader, writer = await _connect(p)
            writer.write(FRAME)
            results.append(await asyncio.wait_for(reader.readexactly(len(FRAME)), 2))
            writer.close()
    assert results[0] == results[1] != FRAME
    assert results[0][:2] == FRAME[:2]  # the length header is spared: the frame still arrives


async def test_half_open_gives_eof_but_accepts_writes(
    proxy: FaultProxy, upstream: EchoUpstream
) -> None:
    proxy.set_fault(Fault(kind="half_open"))
    reader, writer = await _connect(proxy)
    writer.write(FRAME)
    assert await _read_all(reader) == b""  # EOF, no answer
    writer.write(FRAME)  # our side still writes and the upstream still receives
    await writer.drain()
    for _ in range(100):
        if len(upstream.received) == 2:
            break
        await asyncio.sleep(0.01)
    assert upstream.received == [FRAME[2:], FRAME[2:]]
    writer.close()


async def test_bandwidth_paces_the_bytes(proxy: FaultProxy) -> None:
    big = frame(bytes(600))
    proxy.set_fault(Fault(kind="bandwidth", bytes_per_s=2000, direction="response"))
    reader, writer = await _connect(proxy)
    t0 = time.perf_counter()
    writer.write(big)
    chunks = []
    async with asyncio.timeout(5):
        while sum(map(len, chunks)) < len(big):
            chunks.append(await reader.read(4096))
    elapsed = time.perf_counter() - t0
    rate = len(big) / elapsed
    assert len(chunks) > 3  # trickled, not in one piece
    assert 500 < rate < 2000 * 1.5
    writer.close()


async def test_scope_next_connection_only(proxy: FaultProxy) -> None:
    proxy.set_fault(Fault(kind="refuse", connections=1))
    r1, w1 = await _connect(proxy)
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(r1.readexactly(1), 2)
    r2, w2 = await _connect(proxy)
    w2.write(FRAME)
    assert await asyncio.wait_for(r2.readexactly(len(FRAME)), 2) == FRAME
    w1.close()
    w2.close()


async def test_scope_direction_request_only(proxy: FaultProxy, upstream: EchoUpstream) -> None:
    proxy.set_fault(Fault(kind="corrupt", position=5, direction="request"))
    reader, writer = await _connect(proxy)
    writer.write(FRAME)
    got = await asyncio.wait_for(reader.readexactly(len(FRAME)), 2)
    assert upstream.received[0] != FRAME[2:]  # damaged on the way in
    assert got == frame(upstream.received[0])  # the answer passed untouched
    writer.close()


async def test_fault_set_on_a_live_connection_and_cleared(proxy: FaultProxy) -> None:
    reader, writer = await _connect(proxy)
    writer.write(FRAME)
    assert await asyncio.wait_for(reader.readexactly(len(FRAME)), 2) == FRAME
    proxy.set_fault(Fault(kind="drop_response"))
    writer.write(FRAME)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.2)
    proxy.clear()
    writer.write(FRAME)
    assert await asyncio.wait_for(reader.readexactly(len(FRAME)), 2) == FRAME
    writer.close()


async def test_garbage_passes_through_unframed(proxy: FaultProxy, upstream: EchoUpstream) -> None:
    reader, writer = await _connect(proxy)
    writer.write(b"\xff\xffnot a frame")
    await writer.drain()
    # the upstream refuses the oversized length and closes; the proxy passes the close on
    assert await _read_all(reader) == b""
    writer.close()


async def test_drop_connect_times_out_new_connects_until_cleared(
    proxy: FaultProxy, upstream: EchoUpstream
) -> None:
    port = proxy.port
    old_reader, old_writer = await _connect(proxy)  # open before the fault
    proxy.set_fault(Fault(kind="drop_connect"))
    assert [f.code for f in proxy.faults()] == ["NET.CONNECT_TIMEOUT"]
    for _ in range(2):  # the SYN is dropped: no ECONNREFUSED, no accept, just silence
        t0 = time.perf_counter()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(_connect(proxy), 0.5)
        assert time.perf_counter() - t0 >= 0.45
    old_writer.write(FRAME)  # the connection opened before keeps working
    assert await asyncio.wait_for(old_reader.readexactly(len(FRAME)), 2) == FRAME
    assert proxy.stats["connections"] == 1
    proxy.clear()
    assert proxy.port == port
    reader, writer = await asyncio.wait_for(_connect(proxy), 0.5)  # served again at once
    writer.write(FRAME)
    assert await asyncio.wait_for(reader.readexactly(len(FRAME)), 2) == FRAME
    assert upstream.received == [FRAME[2:], FRAME[2:]]
    for w in (old_writer, writer):
        w.close()


async def test_terminal_link_classifies_drop_connect_as_connect_timeout(
    proxy: FaultProxy, upstream: EchoUpstream
) -> None:
    endpoint = HostEndpoint(name="primary", host="127.0.0.1", port=proxy.port)
    timeouts = Timeouts(dns=1.0, connect=0.3, read=0.3)
    proxy.set_fault(Fault(kind="drop_connect"))
    channel = Channel(endpoint, timeouts)
    with pytest.raises(LinkError) as info:
        await channel.connect()
    await channel.close()
    assert info.value.code == "NET.CONNECT_TIMEOUT"
    assert str(info.value.context["stage"]) == "connect"
    assert not maybe_delivered(info.value)  # nothing was sent: no reversal is due
    proxy.clear(FaultKind.DROP_CONNECT)
    async with Channel(endpoint, timeouts) as ch:
        await ch.send(b"0800hello")
        assert await ch.receive() == b"0800hello"
    assert upstream.received == [b"0800hello"]


async def test_drop_connect_under_hard_refuse_then_alone(proxy: FaultProxy) -> None:
    proxy.set_fault(Fault(kind="drop_connect"))
    proxy.set_fault(Fault(kind="refuse", hard=True))  # a closed port wins: refused at once
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(_connect(proxy), 0.5)
    proxy.clear(FaultKind.REFUSE)  # the firewall still drops
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(_connect(proxy), 0.3)
    proxy.clear()
    _, writer = await asyncio.wait_for(_connect(proxy), 0.5)
    writer.close()


def test_drop_connect_is_a_port_fault_without_frame_or_connection_scope() -> None:
    with pytest.raises(ValidationError, match="drop_connect acts on the listening port"):
        Fault(kind="drop_connect", frames=1)
    with pytest.raises(ValidationError, match="'connections' and 'frames' do not apply"):
        Fault(kind="drop_connect", connections=2)
