"""A scripted reference acquirer host for conformance tests.

It is *not* the host simulator: it has no ledger and no rules of its own. It speaks the
profile's wire format through the shared ISO 8583 layer (codec, framing, keys, MAC) and
answers each request exactly as the test's script says, so a test plays the host's side of
one published rule and nothing else.

- ``0800`` sign-on is answered by the host itself: fresh working keys under the TMK in field
  62, and the batch it assigns in field 60.2 (``batch``), unless the script handles it;
- every other request goes to ``script(msg) -> answer``; the answer is a dict of fields to
  set on top of the echo (MTI + 10, 11, 41, 42, 3, 4, 60, 61), ``NO_ANSWER`` to keep silent
  (a black hole: the connection stays open), or ``None`` for "approve with 00";
- answers are MACed with the session's MAC key (X9.19) unless ``"mac": False`` is given;
- every request is kept in ``received`` with the monotonic time it arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from posguard.common.errors import FrameError
from posguard.iso8583.codec import Message, decode, encode
from posguard.iso8583.fields import parse_field60
from posguard.iso8583.framing import LengthHeader, frame, read_frame
from posguard.iso8583.keys import WorkingKeys, wrap_working_keys
from posguard.iso8583.mac import MacAlgorithm, apply_mac
from posguard.iso8583.spec import load_spec
from posguard.terminal.testing import LAB_TMK

NO_ANSWER = object()
Script = Callable[[Message], Any]

_ECHO = ("3", "4", "11", "41", "42", "49", "60", "61")


@dataclass
class Received:
    msg: Message
    at: float  # time.monotonic()
    host: str


@dataclass
class ReferenceHost:
    script: Script = lambda _msg: None
    name: str = "ref"
    batch: str | None = None  # the batch assigned at sign-on (None: echo the terminal's)
    tmk: bytes = bytes.fromhex(LAB_TMK)
    spec_name: str = "iso87ascii"
    received: list[Received] = field(default_factory=list)
    keys: WorkingKeys | None = None
    sign_ons: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self.spec = load_spec(self.spec_name)
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    def requests(self, mti: str | tuple[str, ...]) -> list[Message]:
        mtis = (mti,) if isinstance(mti, str) else mti
        return [r.msg for r in self.received if r.msg.get("t") in mtis]

    def received_msgs(self) -> list[Message]:
        return [r.msg for r in self.received]

    def times(self, mti: str) -> list[float]:
        return [r.at for r in self.received if r.msg.get("t") == mti]

    async def start(self) -> None:
        # on its earlier port when started again (a front-end back from an outage)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._conns):
            w.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            while True:
                try:
                    raw = await read_frame(reader, LengthHeader.BINARY2)
                except FrameError:
                    return
                msg = decode(self.spec, raw)
                self.received.append(Received(msg, time.monotonic(), self.name))
                answer = self._answer(msg)
                if answer is None:
                    continue  # black hole: keep the connection, say nothing
                writer.write(frame(encode(self.spec, answer), LengthHeader.BINARY2))
                await writer.drain()
        finally:
            self._conns.discard(writer)
            writer.close()

    def _echo(self, msg: Message) -> Message:
        mti = str(msg["t"])
        out: Message = {"t": mti[:2] + str(int(mti[2]) + 1) + "0"}
        for key in _ECHO:
            if key in msg:
                out[key] = msg[key]
        return out

    def sign_on_answer(self, msg: Message) -> Message:
        self.keys = WorkingKeys(os.urandom(16), os.urandom(16))
        self.sign_ons += 1
        out = {**self._echo(msg), "39": "00", "62": wrap_working_keys(self.tmk, self.keys)}
        if self.batch is not None:
            f60 = parse_field60(str(msg["60"]))
            out["60"] = f60.type_code + self.batch + f60.net_code
        return out

    def _answer(self, msg: Message) -> Message | None:
        scripted = self.script(msg)
        if scripted is NO_ANSWER:
            return None
        if scripted is None and msg.get("t") == "0800":
            return self.sign_on_answer(msg)
        fields = dict(scripted or {})
        mac = fields.pop("mac", True)
        out: Message = {**self._echo(msg), "39": "00", **fields}
        if mac and self.keys is not None and msg.get("t") != "0800":
            out = apply_mac(self.spec, out, MacAlgorithm.X919, self.keys.mac_key)
        return out


@contextlib.asynccontextmanager
async def reference_host(
    script: Script = lambda _m: None, **kw: Any
) -> AsyncIterator[ReferenceHost]:
    host = ReferenceHost(script, **kw)
    await host.start()
    try:
        yield host
    finally:
        await host.stop()
