"""Frames on TCP: a length header, then exactly that many message bytes.

Two headers are in use: 2 bytes big-endian (:attr:`LengthHeader.BINARY2`, the default)
and 4 ASCII digits (:attr:`LengthHeader.ASCII4`). Every way a frame can be wrong is a
:class:`~posguard.common.errors.FrameError` saying what and where; a zero-length frame is
refused (no profile message is empty), and so is one above ``max_size`` (default 8 KiB),
*before* its body is read. After a ``FrameError`` the stream is out of step: drop the
connection.

>>> frame(b"0800")
b'\\x00\\x040800'
>>> frame(b"0800", LengthHeader.ASCII4)
b'00040800'
>>> dec = FrameDecoder()
>>> dec.feed(b"\\x00\\x04080")
[]
>>> dec.feed(b"0\\x00\\x02ab")
[b'0800', b'ab']
>>> FrameDecoder(LengthHeader.ASCII4).feed(b"00x4....")
Traceback (most recent call last):
...
posguard.common.errors.FrameError: garbage length header b'00x4': not 4 ASCII digits (offset=0)
"""

from __future__ import annotations

import asyncio
import enum

from posguard.common.errors import FrameError

MAX_FRAME_SIZE = 8192
"""The one limit on an ISO 8583 frame's body, for the terminal's link, the host and the proxy."""
DEFAULT_MAX_SIZE = MAX_FRAME_SIZE


class LengthHeader(enum.Enum):
    """The length prefix in front of each message."""

    BINARY2 = "binary2"  # 2 bytes, unsigned big-endian
    ASCII4 = "ascii4"  # 4 ASCII decimal digits

    @property
    def size(self) -> int:
        return 2 if self is LengthHeader.BINARY2 else 4

    @property
    def limit(self) -> int:
        """The largest length the header can express."""
        return 0xFFFF if self is LengthHeader.BINARY2 else 9999


class FrameTimeoutError(FrameError, TimeoutError):
    """No whole frame arrived in time (also a ``TimeoutError``); the link maps it to
    ``NET.READ_TIMEOUT``."""

    code = "NET.READ_TIMEOUT"


class PeerClosedError(FrameError, EOFError):
    """The peer closed the connection cleanly between frames (also an ``EOFError``)."""


def frame(payload: bytes, header: LengthHeader = LengthHeader.BINARY2) -> bytes:
    """``payload`` with its length header in front."""
    n = len(payload)
    if n == 0:
        raise FrameError("refusing to frame an empty message", length=0)
    if n > header.limit:
        raise FrameError(
            f"message of {n} bytes does not fit a {header.value} length header",
            length=n,
            limit=header.limit,
        )
    if header is LengthHeader.BINARY2:
        return n.to_bytes(2, "big") + payload
    return b"%04d" % n + payload


def parse_length(raw: bytes, header: LengthHeader, max_size: int, offset: int = 0) -> int:
    """The body length announced by the header bytes ``raw`` (``offset`` is for errors)."""
    if header is LengthHeader.BINARY2:
        n = int.from_bytes(raw, "big")
    else:
        if not (len(raw) == 4 and raw.isdigit()):
            raise FrameError(f"garbage length header {raw!r}: not 4 ASCII digits", offset=offset)
        n = int(raw)
    if n == 0:
        raise FrameError("zero-length frame", offset=offset)
    if n > max_size:
        raise FrameError(
            f"oversized frame: header announces {n} bytes, maximum is {max_size}",
            offset=offset,
            length=n,
        )
    return n


async def _read_one(reader: asyncio.StreamReader, header: LengthHeader, max_size: int) -> bytes:
    try:
        raw = await reader.readexactly(header.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise PeerClosedError("connection closed between frames", received=0) from None
        raise FrameError(
            f"truncated frame: connection closed after {len(exc.partial)} of "
            f"{header.size} length-header bytes",
            received=len(exc.partial),
        ) from None
    n = parse_length(raw, header, max_size)
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError as exc:
        raise FrameError(
            f"truncated frame: connection closed after {len(exc.partial)} of {n} body bytes",
            received=len(exc.partial),
            length=n,
        ) from None
    except asyncio.LimitOverrunError as exc:  # pragma: no cover - readexactly does not raise it
        raise FrameError(f"reader buffer overrun: {exc}") from None


async def read_frame(
    reader: asyncio.StreamReader,
    header: LengthHeader = LengthHeader.BINARY2,
    max_size: int = DEFAULT_MAX_SIZE,
    timeout: float | None = None,
) -> bytes:
    """Read one frame's body from ``reader``.

    Raises :class:`PeerClosedError` on a clean close between frames, :class:`FrameTimeoutError`
    when the whole frame is not in within ``timeout`` seconds, and :class:`FrameError`
    for a truncated, zero-length, oversized or garbage frame. Never
    ``asyncio.IncompleteReadError``.
    """
    if timeout is None:
        return await _read_one(reader, header, max_size)
    try:
        async with asyncio.timeout(timeout):
            return await _read_one(reader, header, max_size)
    except TimeoutError:
        raise FrameTimeoutError(f"no complete frame within {timeout:g}s", timeout=timeout) from None


class FrameDecoder:
    """Incremental, synchronous frame splitter for byte streams fed in arbitrary pieces.

    ``feed`` returns every frame completed so far. After a ``FrameError`` the decoder is
    broken (the stream is out of step) and every later ``feed`` raises again. ``close``
    says whether the stream ended cleanly.
    """

    def __init__(
        self, header: LengthHeader = LengthHeader.BINARY2, max_size: int = DEFAULT_MAX_SIZE
    ) -> None:
        self.header = header
        self.max_size = max_size
        self._buf = bytearray()
        self._offset = 0  # stream offset of _buf[0], for error messages
        self._need: int | None = None  # body length of the frame being read
        self._error: FrameError | None = None

    @property
    def pending(self) -> int:
        """Bytes buffered that do not yet make a whole frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Every frame completed so far; raises :class:`FrameError` on a bad length header
        (the frames completed before it in the same call are then lost: use :meth:`split`
        to keep them)."""
        frames, error = self.split(data)
        if error is not None:
            raise error
        return frames

    def split(self, data: bytes) -> tuple[list[bytes], FrameError | None]:
        """Like :meth:`feed`, but returns the frames completed before an error with it."""
        if self._error is not None:
            return [], FrameError(f"decoder is broken by an earlier error: {self._error.message}")
        self._buf += data
        out: list[bytes] = []
        hsize = self.header.size
        while True:
            if self._need is None:
                if len(self._buf) < hsize:
                    return out, None
                try:
                    self._need = parse_length(
                        bytes(self._buf[:hsize]), self.header, self.max_size, self._offset
                    )
                except FrameError as exc:
                    self._error = exc
                    return out, exc
                del self._buf[:hsize]
                self._offset += hsize
            if len(self._buf) < self._need:
                return out, None
            out.append(bytes(self._buf[: self._need]))
            del self._buf[: self._need]
            self._offset += self._need
            self._need = None

    def unconsumed(self) -> bytes:
        """The bytes fed that are in no returned frame, as they arrived: the length header of
        a frame under way included, and after an error everything from the bad header on."""
        if self._need is None:
            return bytes(self._buf)
        head = frame(b"\0" * self._need, self.header)[: self.header.size]
        return head + bytes(self._buf)

    def close(self) -> None:
        """End of stream: raise ``FrameError`` if a frame was cut short."""
        if self._buf or self._need is not None:
            where = "length header" if self._need is None else f"body of {self._need} bytes"
            raise FrameError(
                f"truncated frame at end of stream: {len(self._buf)} bytes of the {where}",
                offset=self._offset,
                received=len(self._buf),
            )
