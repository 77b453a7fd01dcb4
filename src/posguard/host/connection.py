"""One terminal's connection to the host, as an asyncio protocol.

Frames are split from the bytes as they arrive (:class:`~posguard.iso8583.framing.FrameDecoder`)
and decided one at a time, in order: the next frame of a connection is handed to the ledger
only once the previous one is answered, as a terminal expects. The answer is written from the
group committer's callback, right when the group's commit is durable, so a request costs no
task, future or wake-up of its own (the stream version woke a task per request to write the
answer and another to read the next frame, each read under its own timeout).

Bad input is never fatal to the host: a frame that cannot be read (garbage, zero-length,
oversized or truncated) is journalled and closes its own connection after the frames before
it are answered; a bug while deciding costs the connection, never the server. A connection
idle for ``idle_timeout`` seconds (no whole request since its last answer) is closed.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any

import structlog

from posguard.common.errors import FrameError
from posguard.host.group_commit import Done
from posguard.host.handler import HandleResult
from posguard.host.journal import HostJournal, JournalEntry
from posguard.iso8583.framing import FrameDecoder, LengthHeader, frame

__all__ = ["Connections", "Decide", "HostConnection"]

log = structlog.get_logger("posguard.host")

Decide = Callable[[bytes, str, Done], None]
"""Hands one request frame (and its peer) to the ledger's current group."""

_QUEUED_FRAMES = 8  # frames read ahead of the one being decided before reading pauses


class Connections:
    """The host's open connections, which of them are deciding a request, and whether the host
    is stopping (then a connection closes as soon as it has answered what it is deciding)."""

    def __init__(self) -> None:
        self.open: set[HostConnection] = set()
        self.busy: set[HostConnection] = set()
        self.closing = False
        self._drained: asyncio.Future[None] | None = None

    def set_idle(self, conn: HostConnection) -> None:
        self.busy.discard(conn)
        if not self.busy and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    async def wait_answered(self, timeout: float) -> None:
        """Wait until no connection is deciding a request (at most ``timeout`` seconds)."""
        if not self.busy:
            return
        self._drained = asyncio.get_running_loop().create_future()
        await asyncio.wait([self._drained], timeout=timeout)

    def close(self, *, busy_too: bool) -> None:
        for conn in list(self.open):
            if busy_too or conn not in self.busy:
                conn.close()


class HostConnection(asyncio.Protocol):
    """Reads frames, decides them one at a time through ``decide``, writes the answers."""

    def __init__(
        self,
        decide: Decide,
        journal: HostJournal,
        conns: Connections,
        *,
        length_header: LengthHeader,
        max_frame: int,
        idle_timeout: float,
    ) -> None:
        self._decide = decide
        self._journal = journal
        self._conns = conns
        self._header = length_header
        self._idle_timeout = idle_timeout
        self._decoder = FrameDecoder(length_header, max_frame)
        self._frames: collections.deque[bytes] = collections.deque()
        self._bad: FrameError | None = None  # a frame that cannot be read, after the queued ones
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._peer = "?"
        self._tls = False
        self._deciding = False
        self._eof = False
        self._closed = False
        self._read_paused = False
        self._write_paused = False
        self._last = 0.0  # loop time of the last answer (or of the connection)
        self._idle_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        addr = transport.get_extra_info("peername")
        self._peer = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)
        self._tls = transport.get_extra_info("sslcontext") is not None
        self._conns.open.add(self)
        self._last = self._loop.time()
        self._idle_timer = self._loop.call_at(self._last + self._idle_timeout, self._check_idle)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        frames, error = self._decoder.split(data)
        self._frames.extend(frames)
        if error is not None and self._bad is None:
            self._bad = error
        if len(self._frames) >= _QUEUED_FRAMES and not self._read_paused:
            assert self._transport is not None
            self._transport.pause_reading()
            self._read_paused = True
        self._next()

    def eof_received(self) -> bool:
        self._eof = True
        self._next()
        # keep a TCP transport open to write the answers still owed (TLS closes regardless)
        return not self._tls

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self._closed:
            log.info("connection lost", peer=self._peer, error=type(exc).__name__)
        self._closed = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._conns.open.discard(self)
        self._conns.set_idle(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._next()

    # -- requests and answers -------------------------------------------------------------------

    def close(self) -> None:
        """Close after the answers already written are sent."""
        if not self._closed:
            self._closed = True
            assert self._transport is not None
            self._transport.close()

    def _next(self) -> None:
        """Start deciding the next frame, unless one is being decided or answers are backed up;
        with none left, close on a bad frame, an end of stream or a stopping host."""
        if self._deciding or self._closed or self._write_paused:
            return
        if self._conns.closing:
            self.close()
            return
        if self._frames:
            raw = self._frames.popleft()
            self._deciding = True
            self._conns.busy.add(self)
            try:
                self._decide(raw, self._peer, self._answered)
            except Exception as exc:  # the ledger is stopped, or a bug: this connection only
                self._answered(False, exc)
            return
        if self._read_paused:
            assert self._transport is not None
            self._transport.resume_reading()
            self._read_paused = False
        if self._bad is None and self._eof:
            try:
                self._decoder.close()
            except FrameError as exc:  # the stream ended inside a frame
                self._bad = exc
            else:
                self.close()
                return
        if self._bad is not None:
            self._bad_frame(self._bad)

    def _answered(self, ok: bool, value: Any) -> None:
        self._deciding = False
        self._conns.set_idle(self)
        if self._closed:
            return
        if not ok:
            if isinstance(value, ConnectionError | OSError):
                log.info("connection lost", peer=self._peer, error=type(value).__name__)
            else:  # a bug must cost one connection, never the server
                log.error("connection handler failed", peer=self._peer, exc_info=value)
            self.close()
            return
        assert isinstance(value, HandleResult)
        self._last = self._loop.time()
        if value.answer is None:
            if not value.keep_open:
                self.close()
                return
        else:
            assert self._transport is not None
            try:
                self._transport.write(frame(value.answer, self._header))
            except FrameError as exc:
                log.error("cannot frame the answer", peer=self._peer, error=str(exc))
                self.close()
                return
        self._next()

    def _bad_frame(self, exc: FrameError) -> None:
        log.warning("bad frame, closing", peer=self._peer, error=str(exc))
        entry = JournalEntry(
            peer=self._peer,
            tid="",
            mti="",
            stan="",
            rc="",
            pan_masked="",
            amount=None,
            raw_len=int(exc.context.get("length", 0)),
            decision=f"bad frame: {exc.message}",
        )
        self._journal.record(entry)
        self.close()

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self._closed:
            return
        due = self._last + self._idle_timeout
        now = self._loop.time()
        if self._deciding or now < due:
            self._idle_timer = self._loop.call_at(
                max(due, now + self._idle_timeout) if self._deciding else due, self._check_idle
            )
            return
        log.info("idle connection closed", peer=self._peer)
        self.close()
