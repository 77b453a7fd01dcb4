"""The channel over real sockets on 127.0.0.1: every failure becomes its NET.* code."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from posguard.common.errors import LinkError
from posguard.common.testing import free_port, write_self_signed_cert
from posguard.terminal.config import HostEndpoint, Timeouts, TlsConfig
from posguard.terminal.link.channel import Channel, maybe_delivered
from posguard.terminal.link.classify import Stage, classify

FAST = Timeouts(dns=1.0, connect=0.3, read=0.3)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serve(handler: Handler, ssl_ctx: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        n = struct.unpack(">H", await reader.readexactly(2))[0]
        writer.write(struct.pack(">H", n) + await reader.readexactly(n))
        await writer.drain()
    finally:
        writer.close()


def endpoint(port: int, host: str = "127.0.0.1", tls: TlsConfig | None = None) -> HostEndpoint:
    return HostEndpoint(name="primary", host=host, port=port, tls=tls or TlsConfig())


async def round_trip(ch: Channel, payload: bytes) -> bytes:
    await ch.connect()
    await ch.send(payload)
    return await ch.receive()


async def fail_code(ch: Channel, payload: bytes = b"0800") -> tuple[str | None, str]:
    with pytest.raises(LinkError) as info:
        await round_trip(ch, payload)
    await ch.close()
    return info.value.code, str(info.value.context["stage"])


async def test_round_trip() -> None:
    async with serve(echo) as port, Channel(endpoint(port), FAST) as ch:
        await ch.send(b"0800hello")
        assert await ch.receive() == b"0800hello"
        assert 0 < ch.timing.connect < FAST.connect  # measured, not the 0.0 default


async def test_refused_port() -> None:
    code, stage = await fail_code(Channel(endpoint(free_port()), FAST))
    assert (code, stage) == ("NET.CONNECT_REFUSED", "connect")


async def test_connect_timeout_on_full_backlog() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    filler = socket.create_connection(srv.getsockname(), timeout=1)  # fills the accept queue
    try:
        t0 = time.perf_counter()
        code, stage = await fail_code(Channel(endpoint(srv.getsockname()[1]), FAST))
        assert (code, stage) == ("NET.CONNECT_TIMEOUT", "connect")
        assert 0.25 < time.perf_counter() - t0 < 2.0
    finally:
        filler.close()
        srv.close()


async def test_unresolvable_name_fails_fast() -> None:
    t0 = time.perf_counter()
    code, stage = await fail_code(Channel(endpoint(5000, host="acquirer.posguard.invalid"), FAST))
    assert (code, stage) == ("NET.DNS_FAILURE", "dns")
    assert time.perf_counter() - t0 < 1.0


async def test_read_timeout_is_delivered_failure() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        await asyncio.sleep(2)
        writer.close()

    async with serve(silent) as port:
        ch = Channel(endpoint(port), FAST)
        with pytest.raises(LinkError) as info:
            await round_trip(ch, b"0200")
        await ch.close()
    assert info.value.code == "NET.READ_TIMEOUT"
    assert maybe_delivered(info.value)


async def test_reset_by_peer() -> None:
    async def rst(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with serve(rst) as port:
        code, stage = await fail_code(Channel(endpoint(port), FAST))
    assert (code, stage) == ("NET.CONNECTION_RESET", "read")


async def test_close_mid_frame_is_reset() -> None:
    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"\x00\x40" + b"0210" * 4)  # announces 64 bytes, sends 16
        await writer.drain()
        writer.close()

    async with serve(half) as port:
        code, stage = await fail_code(Channel(endpoint(port), FAST))
    assert (code, stage) == ("NET.CONNECTION_RESET", "read")


async def test_tls_untrusted_certificate(tmp_path: Path) -> None:
    cert, key = write_self_signed_cert(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    async with serve(echo, server_ctx) as port:
        untrusted = TlsConfig(enabled=True, server_name="localhost")
        code, stage = await fail_code(Channel(endpoint(port, tls=untrusted), FAST))
        assert (code, stage) == ("NET.TLS_FAILURE", "tls")
        trusted = TlsConfig(enabled=True, server_name="localhost", ca_file=cert)
        async with Channel(endpoint(port, tls=trusted), FAST) as ch:
            await ch.send(b"0800tls")
            assert await ch.receive() == b"0800tls"


@pytest.mark.parametrize(
    ("exc", "stage", "code"),
    [
        (OSError(errno.ENETUNREACH, "Network is unreachable"), Stage.CONNECT, "NET.NO_ROUTE"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), Stage.CONNECT, "NET.NO_ROUTE"),
        (socket.gaierror(socket.EAI_NONAME, "unknown"), Stage.CONNECT, "NET.DNS_FAILURE"),
        (ssl.SSLCertVerificationError("bad"), Stage.TLS, "NET.TLS_FAILURE"),
        (TimeoutError(), Stage.TLS, "NET.TLS_FAILURE"),
        (BrokenPipeError(), Stage.SEND, "NET.CONNECTION_RESET"),
        (OSError(errno.ETIMEDOUT, "timed out"), Stage.CONNECT, "NET.CONNECT_TIMEOUT"),
    ],
)
def test_classify_table(exc: BaseException, stage: Stage, code: str) -> None:
    assert classify(exc, stage) == code


async def test_name_resolved_through_the_resolver() -> None:
    async with serve(echo) as port, Channel(endpoint(port, host="localhost"), FAST) as ch:
        await ch.send(b"0800dns")
        assert await ch.receive() == b"0800dns"
        assert 0 < ch.timing.dns < FAST.dns  # the resolver ran and was timed


async def test_unusable_trust_file_is_a_tls_failure_at_the_tls_stage(tmp_path: Path) -> None:
    """A CA file that cannot be loaded fails the connect like any TLS failure (NET.TLS_FAILURE,
    stage tls, nothing sent), for a sale and for the doctor alike."""
    async with serve(echo) as port:
        tls = TlsConfig(enabled=True, ca_file=tmp_path / "missing-ca.pem")
        ch = Channel(HostEndpoint(name="h", host="127.0.0.1", port=port, tls=tls), FAST)
        with pytest.raises(LinkError) as err:
            await ch.connect()
    assert err.value.code == "NET.TLS_FAILURE"
    assert err.value.context["stage"] == Stage.TLS.value
    assert not maybe_delivered(err.value)
