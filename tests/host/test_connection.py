"""A terminal's connection to the host (:mod:`posguard.host.connection`): requests that arrive
together are answered one at a time and in order, answers wait for the decision's commit, a
connection idle for ``idle_timeout`` is closed, and a bad frame behind good ones closes the
connection only after the good ones are answered."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from posguard.host.testing import HostClient, running_host
from posguard.iso8583.codec import decode
from posguard.iso8583.framing import frame
from posguard.iso8583.spec import load_spec

from .conftest import Cards

SPEC = load_spec("iso87ascii")


async def _answers(reader: asyncio.StreamReader, timeout: float = 5.0) -> list[bytes]:
    """Every answer frame until the host closes the connection."""
    out: list[bytes] = []
    async with asyncio.timeout(timeout):
        while len(head := await reader.read(2)) == 2:
            (n,) = struct.unpack(">H", head)
            out.append(await reader.readexactly(n))
    return out


async def test_sales_sent_in_one_write_are_answered_in_order(cards: Cards) -> None:
    async with running_host() as (host, port, ledger), HostClient(port) as c:
        await c.sign_on()
        sales = [c.sale_msg(cards.good, 100 + i) for i in range(5)]
        # all five in one segment, then a frame that cannot be read (zero length)
        raw = b"".join(frame(c.pack(s)) for s in sales) + b"\x00\x00"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        answers = [decode(SPEC, a) for a in await _answers(reader)]
        writer.close()
        assert [a["11"] for a in answers] == [s["11"] for s in sales]
        assert {a["39"] for a in answers} == {"00"}
        rows: Any = await host.call(lambda: ledger.transactions(c.tid))
        assert sorted(r.stan for r in rows) == sorted(str(s["11"]) for s in sales)
        decisions = [e.decision for e in host.journal.query(tid="")]
        assert any(d.startswith("bad frame: zero-length") for d in decisions)


async def test_an_idle_connection_is_closed_and_a_busy_one_is_not(cards: Cards) -> None:
    async with running_host(idle_timeout=0.3) as (_host, port, _ledger), HostClient(port) as c:
        await c.sign_on()
        for _ in range(3):  # each answer starts the timeout afresh: open for 0.6 s and more
            await asyncio.sleep(0.2)
            assert (await c.sale(cards.good, 100))["39"] == "00"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x00")  # half a length header, then nothing
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await _answers(reader) == []
        assert 0.25 <= loop.time() - start < 2.0
        writer.close()
