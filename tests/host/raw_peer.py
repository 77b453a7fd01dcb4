"""A deliberately small ISO 8583:1987 ASCII peer, written from the standard and independent of
posguard's codec: MTI (4 ASCII digits), primary bitmap as 16 ASCII hex characters, fixed fields
as is, LLVAR / LLLVAR with ASCII length prefixes; frames with a 2-byte big-endian length
(the profile's default). Tests use it to send exactly the bytes a misbehaving terminal would,
and to read the host's answer without trusting our own decoder."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping

# field -> (kind, length): "F" fixed, "LL" / "LLL" variable with 2 / 3 ASCII length digits.
LAYOUT: dict[int, tuple[str, int]] = {
    2: ("LL", 19),
    3: ("F", 6),
    4: ("F", 12),
    11: ("F", 6),
    12: ("F", 6),
    13: ("F", 4),
    14: ("F", 4),
    22: ("F", 3),
    25: ("F", 2),
    37: ("F", 12),
    38: ("F", 6),
    39: ("F", 2),
    41: ("F", 8),
    42: ("F", 15),
    48: ("LLL", 999),
    49: ("F", 3),
    54: ("LLL", 240),
    60: ("LLL", 100),
    61: ("LLL", 100),
    62: ("LLL", 512),  # binary (the 0810's working keys)
    64: ("F", 8),  # binary (the MAC)
}


def build(mti: str, fields: Mapping[int, str | bytes]) -> bytes:
    """The message bytes (no frame). Values are written as given: a test may break them.
    A bytes value is written raw (62, 64)."""
    bitmap = 0
    body = b""
    for num in sorted(fields):
        bitmap |= 1 << (64 - num)
        kind, _ = LAYOUT[num]
        raw = fields[num]
        value = raw if isinstance(raw, bytes) else raw.encode("latin-1")
        if kind == "LL":
            body += f"{len(value):02d}".encode()
        elif kind == "LLL":
            body += f"{len(value):03d}".encode()
        body += value
    return mti.encode() + f"{bitmap:016X}".encode() + body


def parse(raw: bytes) -> dict[int | str, str]:
    """Fields of an answer (only those in :data:`LAYOUT`; stops at the first other one).
    Binary fields (62, 64) come back as latin-1 text: ``value.encode("latin-1")`` restores
    their bytes."""
    out: dict[int | str, str] = {"mti": raw[:4].decode()}
    bitmap = int(raw[4:20], 16)
    pos = 20
    for num in range(2, 65):
        if not bitmap & (1 << (64 - num)):
            continue
        if num not in LAYOUT:
            out["stopped_at"] = str(num)
            break
        kind, length = LAYOUT[num]
        if kind == "LL":
            length, pos = int(raw[pos : pos + 2]), pos + 2
        elif kind == "LLL":
            length, pos = int(raw[pos : pos + 3]), pos + 3
        out[num] = raw[pos : pos + length].decode("latin-1")
        pos += length
    return out


class RawPeer:
    """One TCP connection to the host: ``await peer.exchange(bytes)`` -> answer bytes or None."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawPeer:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.writer is not None
        self.writer.close()

    async def send(self, payload: bytes) -> None:
        assert self.writer is not None
        self.writer.write(struct.pack(">H", len(payload)) + payload)
        await self.writer.drain()

    async def answer(self, timeout: float = 3.0) -> bytes | None:
        """The next answer, or None when the host closed the connection."""
        assert self.reader is not None
        try:
            head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        except asyncio.IncompleteReadError:
            return None
        (n,) = struct.unpack(">H", head)
        return await asyncio.wait_for(self.reader.readexactly(n), timeout)

    async def exchange(self, payload: bytes, timeout: float = 3.0) -> bytes | None:
        await self.send(payload)
        return await self.answer(timeout)
