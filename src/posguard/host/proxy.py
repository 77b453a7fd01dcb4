"""The fault-injecting TCP proxy: terminal <-> proxy <-> host, frame-aware (2-byte or 4-ASCII
length header) so faults hit whole frames, and transparent for bytes that are not frames.

Faults are set and cleared at run time: :meth:`FaultProxy.set_fault` / :meth:`FaultProxy.clear`,
the HTTP control API (:mod:`posguard.host.control`) or a timeline (:mod:`posguard.host.timeline`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from dataclasses import dataclass, field
from typing import Literal

import structlog

from posguard.host.faults import Direction, Fault, FaultKind
from posguard.host.listener import AcceptingListener, FullBacklogListener, bind_listener
from posguard.iso8583.framing import MAX_FRAME_SIZE, FrameDecoder, LengthHeader, frame

__all__ = ["ArmedFault", "FaultProxy", "FrameSplitter"]

log = structlog.get_logger("posguard.host.proxy")

_READ = 65536
# faults that act on frames of a connection (drop_connect acts on the listening port only)
_FRAME_KINDS = tuple(k for k in FaultKind if k is not FaultKind.DROP_CONNECT)


class FrameSplitter:
    """Cut a byte stream into whole frames (header included), with the one frame decoder
    (:class:`posguard.iso8583.framing.FrameDecoder`). Bytes that cannot be a frame (a zero,
    garbage or over-``max_size`` length) switch the stream to raw pass-through, so the proxy
    stays transparent for garbage.

    >>> s = FrameSplitter()
    >>> s.feed(b"\\x00\\x03ab")
    []
    >>> s.feed(b"c\\x00\\x01z")
    [b'\\x00\\x03abc', b'\\x00\\x01z']
    """

    def __init__(
        self, header: Literal["binary2", "ascii4"] = "binary2", max_size: int = MAX_FRAME_SIZE
    ) -> None:
        self._header = LengthHeader.BINARY2 if header == "binary2" else LengthHeader.ASCII4
        self._decoder = FrameDecoder(self._header, max_size)
        self.raw = False

    def feed(self, data: bytes) -> list[bytes]:
        if self.raw:
            return [data] if data else []
        bodies, error = self._decoder.split(data)
        out = [frame(body, self._header) for body in bodies]
        if error is not None:
            self.raw = True
            garbage = self._decoder.unconsumed()
            if garbage:
                out.append(garbage)
        return out

    def rest(self) -> bytes:
        """Bytes of an unfinished frame (forwarded as is when the stream ends)."""
        return b"" if self.raw else self._decoder.unconsumed()


@dataclass
class ArmedFault:
    """A fault as the proxy holds it: which connections it covers and how many frames are left."""

    fault: Fault
    first_conn: int
    frames_left: int | None
    rng: random.Random = field(repr=False)

    def covers(self, conn_id: int) -> bool:
        n = self.fault.connections
        return n is None or self.first_conn <= conn_id < self.first_conn + n


class _StopError(Exception):
    """Internal: the fault ended this connection."""


class FaultProxy:
    """A TCP proxy to ``upstream`` that misbehaves on command."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        header: Literal["binary2", "ascii4"] = "binary2",
    ) -> None:
        self.upstream = upstream
        self._listen = listen
        self._header = header
        self._listener: AcceptingListener | FullBacklogListener | None = None
        self._started = False
        self._faults: list[ArmedFault] = []
        self._conn_seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.stats: dict[str, int] = {
            "connections": 0,
            "frames_up": 0,
            "frames_down": 0,
            "faulted_frames": 0,
            "refused": 0,
        }

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._started = True
        if not self.port:
            self._set_listener(AcceptingListener)  # take the port first, whatever is armed
        self._sync_listener()
        log.info(
            "proxy listening", port=self.port, upstream=f"{self.upstream[0]}:{self.upstream[1]}"
        )

    async def stop(self) -> None:
        self._started = False
        self._set_listener(None)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the listening port -------------------------------------------------------------------

    def _sync_listener(self) -> None:
        """Put the port in the state the armed faults ask for: closed (hard refuse), full
        backlog (drop_connect: connects time out) or accepting."""
        if not self._started:
            return
        if self._hard_refusing():
            want: type[AcceptingListener] | type[FullBacklogListener] | None = None
        elif self._dropping_connects():
            want = FullBacklogListener
        else:
            want = AcceptingListener
        current = None if self._listener is None else type(self._listener)
        if current is not want:
            self._set_listener(want)

    def _set_listener(
        self, want: type[AcceptingListener] | type[FullBacklogListener] | None
    ) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if want is None:
            return
        host = self._listen[0]
        try:
            if want is FullBacklogListener:
                self._listener = FullBacklogListener(host, self.port)
            else:
                sock = bind_listener(host, self.port or self._listen[1])
                self.port = sock.getsockname()[1]
                self._listener = AcceptingListener(sock, self._accepted)
        except OSError as exc:
            if not self.port:
                raise  # the first bind: the caller learns the port cannot be had
            log.error("proxy port unavailable", port=self.port, error=str(exc))

    def _accepted(self, conn: socket.socket) -> None:
        task = asyncio.get_running_loop().create_task(self._on_socket(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_socket(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=conn)
        except OSError:
            conn.close()
            return
        await self._on_client(reader, writer)

    # -- control ------------------------------------------------------------------------------

    def set_fault(self, fault: Fault) -> None:
        """Arm ``fault`` (in addition to those armed); takes effect for the next frame, and for
        the listening port (hard refuse, drop_connect) before this call returns."""
        armed = ArmedFault(fault, self._conn_seq, fault.frames, random.Random(fault.seed))  # noqa: S311 (repeatable faults)
        self._faults.append(armed)
        log.info(
            "fault set", kind=fault.kind.value, code=fault.code, direction=fault.direction.value
        )
        self._sync_listener()

    def clear(self, kind: FaultKind | None = None) -> None:
        """Disarm every fault (or every fault of ``kind``); a closed or blocked port serves
        again, on the same port number."""
        self._faults = [a for a in self._faults if kind is not None and a.fault.kind is not kind]
        log.info("faults cleared", kind=kind.value if kind else "all")
        self._sync_listener()

    def faults(self) -> list[Fault]:
        return [a.fault for a in self._faults if a.frames_left is None or a.frames_left > 0]

    def _hard_refusing(self) -> bool:
        return any(a.fault.kind is FaultKind.REFUSE and a.fault.hard for a in self._faults)

    def _dropping_connects(self) -> bool:
        return any(a.fault.kind is FaultKind.DROP_CONNECT for a in self._faults)

    def _find(
        self, conn_id: int, direction: Direction | None, kinds: tuple[FaultKind, ...]
    ) -> ArmedFault | None:
        for armed in self._faults:
            f = armed.fault
            if f.kind not in kinds or not armed.covers(conn_id):
                continue
            if direction is not None and not f.applies_to(direction):
                continue
            if armed.frames_left is not None and armed.frames_left <= 0:
                continue
            return armed
        return None

    # -- connections --------------------------------------------------------------------------

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn_id = self._conn_seq
        self._conn_seq += 1
        self.stats["connections"] += 1
        try:
            await self._serve(conn_id, reader, writer)
        except (ConnectionError, OSError, asyncio.CancelledError, _StopError):
            pass
        finally:
            _abort(writer)

    async def _serve(
        self, conn_id: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        refuse = self._find(conn_id, None, (FaultKind.REFUSE,))
        if refuse is not None:
            self.stats["refused"] += 1
            log.info("connection refused by fault", conn=conn_id, peer=str(peer))
            _reset(writer)
            return
        if self._find(conn_id, None, (FaultKind.BLACKHOLE,)) is not None:
            log.info("connection black-holed", conn=conn_id, peer=str(peer))
            while await reader.read(_READ):
                pass  # read and never answer
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), timeout=5
            )
        except (OSError, TimeoutError):
            log.warning("upstream unreachable", conn=conn_id, upstream=str(self.upstream))
            _reset(writer)
            return
        pumps = [
            asyncio.create_task(self._pump(conn_id, reader, up_writer, writer, Direction.REQUEST)),
            asyncio.create_task(self._pump(conn_id, up_reader, writer, writer, Direction.RESPONSE)),
        ]
        try:
            done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            if any(t.exception() is not None for t in done if not t.cancelled()):
                return  # a reset or error: tear both sides down now
            # one side ended cleanly: let the other finish what is in flight
            await asyncio.wait(pumps, timeout=30)
        finally:
            for t in pumps:
                t.cancel()
            _abort(up_writer)

    async def _pump(
        self,
        conn_id: int,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
        direction: Direction,
    ) -> None:
        splitter = FrameSplitter(self._header)
        key = "frames_up" if direction is Direction.REQUEST else "frames_down"
        while True:
            if self._find(conn_id, direction, (FaultKind.BLACKHOLE,)) is not None:
                data = await src.read(_READ)  # black hole set on a live connection
                if not data:
                    break
                continue
            data = await src.read(_READ)
            if not data:
                break
            for chunk in splitter.feed(data):
                self.stats[key] += 1
                await self._forward(conn_id, chunk, dst, client, direction)
        rest = splitter.rest()
        if rest:
            dst.write(rest)
        with contextlib.suppress(OSError, RuntimeError):
            if dst.can_write_eof():
                dst.write_eof()

    async def _forward(
        self,
        conn_id: int,
        frame: bytes,
        dst: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
        direction: Direction,
    ) -> None:
        armed = self._find(conn_id, direction, _FRAME_KINDS)
        if armed is None:
            dst.write(frame)
            await dst.drain()
            return
        f = armed.fault
        if armed.frames_left is not None:
            armed.frames_left -= 1
        self.stats["faulted_frames"] += 1
        log.info(
            "fault applied",
            conn=conn_id,
            kind=f.kind.value,
            direction=direction.value,
            frame_len=len(frame),
            code=f.code,
        )
        rng = armed.rng
        kind = f.kind
        if kind is FaultKind.DELAY:
            jitter = rng.uniform(-f.jitter_ms, f.jitter_ms) if f.jitter_ms else 0.0
            await asyncio.sleep(max(0.0, f.delay_ms + jitter) / 1000)
            dst.write(frame)
        elif kind is FaultKind.DROP_RESPONSE or kind is FaultKind.BLACKHOLE:
            return  # swallowed
        elif kind is FaultKind.RESET_MID_FRAME:
            cut = f.after_bytes if f.after_bytes is not None else max(1, len(frame) // 2)
            dst.write(frame[: min(cut, len(frame) - 1)])
            with contextlib.suppress(OSError):
                await dst.drain()
            await asyncio.sleep(0.01)  # let the partial bytes leave before the RST
            _reset(client)
            raise _StopError
        elif kind is FaultKind.SLICE:
            size = max(1, -(-len(frame) // f.pieces))
            for i in range(0, len(frame), size):
                if i:
                    await asyncio.sleep(f.piece_delay_ms / 1000)
                dst.write(frame[i : i + size])
                await dst.drain()
        elif kind is FaultKind.CORRUPT:
            dst.write(_corrupt(frame, f, rng))
        elif kind is FaultKind.HALF_OPEN:
            # the answer never comes and the peer sees EOF, but the socket stays open for writes
            with contextlib.suppress(OSError, RuntimeError):
                if client.can_write_eof():
                    client.write_eof()
            return
        elif kind is FaultKind.BANDWIDTH:
            step = max(1, int(f.bytes_per_s / 20))  # 50 ms slots
            for i in range(0, len(frame), step):
                dst.write(frame[i : i + step])
                await dst.drain()
                await asyncio.sleep(len(frame[i : i + step]) / f.bytes_per_s)
        else:  # REFUSE on an already open connection: reset it
            _reset(client)
            raise _StopError
        await dst.drain()


def _corrupt(frame: bytes, fault: Fault, rng: random.Random) -> bytes:
    data = bytearray(frame)
    if fault.position is not None:
        positions = [
            p for p in range(fault.position, fault.position + fault.corrupt_bytes) if p < len(data)
        ]
    else:
        lo = 2 if len(data) > 2 else 0  # spare the length header so the frame still arrives
        positions = [rng.randrange(lo, len(data)) for _ in range(fault.corrupt_bytes)]
    for p in positions:
        data[p] ^= rng.randrange(1, 256)
    return bytes(data)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0, so the peer gets a TCP RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _abort(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
