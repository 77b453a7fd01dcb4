"""One connection to one host: resolve, connect, (TLS), send a frame, receive a frame, close.

Every failure leaves as a :class:`~posguard.common.errors.LinkError` whose ``code`` is a
NET.* catalog code and whose ``context`` names the ``host`` and the ``stage``. Whether the
request may have reached the host is :func:`maybe_delivered` — the engine needs that to
decide between "no charge" and "reversal due".
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import dataclass

from posguard.common.errors import ConfigError, FrameError, LinkError
from posguard.iso8583.framing import MAX_FRAME_SIZE, LengthHeader, frame, read_frame
from posguard.terminal.config import HostEndpoint, Timeouts
from posguard.terminal.link.classify import DNS_FAILURE, TLS_FAILURE, Stage, classify
from posguard.terminal.link.tls import client_context

MAX_FRAME = MAX_FRAME_SIZE  # the one limit, from the ISO 8583 layer


def maybe_delivered(err: LinkError) -> bool:
    """True when the request may have reached the host (failure while sending or reading)."""
    return err.context.get("stage") in (Stage.SEND.value, Stage.READ.value)


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds spent per stage of the last connect (for doctor and benchmarks)."""

    dns: float = 0.0
    connect: float = 0.0
    tls: float = 0.0


class Channel:
    """A framed ISO 8583 connection. Use ``async with Channel(...) as ch`` or connect/close."""

    def __init__(
        self,
        endpoint: HostEndpoint,
        timeouts: Timeouts,
        *,
        header: LengthHeader = LengthHeader.BINARY2,
        max_frame: int = MAX_FRAME,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeouts = timeouts
        self.header = header
        self.max_frame = max_frame
        self._ssl = ssl_context
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.timing = Timing()

    def _fail(self, exc: BaseException, stage: Stage, code: str | None = None) -> LinkError:
        code = code or classify(exc, stage)
        detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
        return LinkError(
            f"{self.endpoint.name} ({self.endpoint.address}): {stage.value} failed: {detail}",
            code=code,
            host=self.endpoint.name,
            stage=stage.value,
        )

    async def resolve(self) -> list[tuple[str, int]]:
        """The host name's addresses (deduplicated, in the resolver's order); LinkError
        NET.DNS_FAILURE when it does not resolve within the DNS timeout."""
        host = self.endpoint.host
        if host.rstrip(".").lower().endswith(".invalid") or host.lower() == "invalid":
            # RFC 6761: ".invalid" never resolves; answer at once instead of asking the resolver.
            raise self._fail(
                socket.gaierror(socket.EAI_NONAME, "Name or service not known"), Stage.DNS
            )
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, self.endpoint.port, type=socket.SOCK_STREAM),
                self.timeouts.dns,
            )
        except (OSError, TimeoutError) as exc:
            raise self._fail(exc, Stage.DNS, DNS_FAILURE) from exc
        addrs: list[tuple[str, int]] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            addr = (str(sockaddr[0]), int(sockaddr[1]))
            if addr not in addrs:
                addrs.append(addr)
        if not addrs:
            raise self._fail(socket.gaierror("no address"), Stage.DNS)
        return addrs

    async def connect(self, *, tls: bool = True) -> None:
        """Resolve, connect (each address in turn, within the connect timeout) and, when the
        endpoint has TLS and ``tls`` is true, handshake. ``tls=False`` stops at TCP (the
        doctor's connect check)."""
        t0 = time.perf_counter()
        addrs = await self.resolve()
        t1 = time.perf_counter()
        deadline = t1 + self.timeouts.connect
        last: LinkError | None = None
        for host, port in addrs:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), remaining
                )
                break
            except (OSError, TimeoutError) as exc:
                last = self._fail(exc, Stage.CONNECT)
        if self._writer is None:
            raise last or self._fail(TimeoutError("connect timed out"), Stage.CONNECT)
        t2 = time.perf_counter()
        if tls and self.endpoint.tls.enabled:
            try:
                ctx = self._ssl or client_context(self.endpoint.tls)
            except ConfigError as exc:  # the trust anchor or client certificate is unusable
                await self.close()
                raise self._fail(exc, Stage.TLS, TLS_FAILURE) from exc
            server_name = self.endpoint.tls.server_name or self.endpoint.host
            try:
                await asyncio.wait_for(
                    self._writer.start_tls(ctx, server_hostname=server_name), self.timeouts.connect
                )
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                await self.close()
                raise self._fail(exc, Stage.TLS) from exc
        self.timing = Timing(dns=t1 - t0, connect=t2 - t1, tls=time.perf_counter() - t2)

    def tls_session(self) -> tuple[str, float | None] | None:
        """The connection's TLS version and the peer certificate's expiry (epoch seconds,
        None when the certificate does not say); None on a plain TCP connection."""
        sslobj = None if self._writer is None else self._writer.get_extra_info("ssl_object")
        if sslobj is None:
            return None
        cert = sslobj.getpeercert()
        not_after = cert.get("notAfter") if cert else None
        expires = ssl.cert_time_to_seconds(not_after) if isinstance(not_after, str) else None
        return str(sslobj.version()), expires

    async def send(self, payload: bytes) -> None:
        if self._writer is None:
            raise LinkError(
                "channel is not connected", code="NET.CONNECTION_RESET", host=self.endpoint.name
            )
        try:
            self._writer.write(frame(payload, self.header))
            await asyncio.wait_for(self._writer.drain(), self.timeouts.read)
        except (OSError, TimeoutError) as exc:
            raise self._fail(exc, Stage.SEND) from exc

    async def receive(self, timeout: float | None = None) -> bytes:
        """One frame's payload. Truncated frames and EOF are resets; garbage stays a FrameError."""
        if self._reader is None:
            raise LinkError(
                "channel is not connected", code="NET.CONNECTION_RESET", host=self.endpoint.name
            )
        wait = self.timeouts.read if timeout is None else timeout
        try:
            return await read_frame(
                self._reader, self.header, max_size=self.max_frame, timeout=wait
            )
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise self._fail(exc, Stage.READ) from exc
        except FrameError as exc:
            if _is_truncation(exc):
                raise self._fail(exc, Stage.READ, "NET.CONNECTION_RESET") from exc
            raise

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        try:
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except (OSError, TimeoutError, ssl.SSLError):
            pass  # the peer is gone or slow; the socket is closed on our side either way

    async def __aenter__(self) -> Channel:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _is_truncation(exc: FrameError) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("truncat", "eof", "closed", "incomplete"))
