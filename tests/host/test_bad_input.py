"""Bad input (garbage, truncated, oversized frames, unknown MTIs, malformed fields) gets a
format-error answer or a clean close, is journalled with the peer, and never disturbs the
server or other connections. Also: many terminals at once keep the ledger exact."""

from __future__ import annotations

import asyncio
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posguard.card import contains_pan
from posguard.host.ledger import Ledger
from posguard.host.seed import SeedData, default_seed, with_terminals
from posguard.host.server import HostServer
from posguard.host.testing import HostClient, running_host
from posguard.iso8583.codec import decode
from posguard.iso8583.framing import frame
from posguard.iso8583.spec import load_spec

from .conftest import Cards

Host = tuple[HostServer, int, Ledger]
SPEC = load_spec("iso87ascii")


async def _exchange(port: int, data: bytes, timeout: float = 3.0) -> list[bytes]:
    """Send ``data``, half-close, and collect every answer frame until the host closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers: list[bytes] = []
    try:
        writer.write(data)
        writer.write_eof()
        async with asyncio.timeout(timeout):
            while True:
                head = await reader.read(2)
                if len(head) < 2:
                    break
                (n,) = struct.unpack(">H", head)
                answers.append(await reader.readexactly(n))
    except (ConnectionResetError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
    return answers


def _assert_format_errors_only(answers: list[bytes]) -> None:
    for raw in answers:
        msg = decode(SPEC, raw)
        assert msg["39"] in ("30", "77", "97", "03", "A0", "12")


async def test_unknown_mti_gets_30(host: Host) -> None:
    answers = await _exchange(host[1], frame(b"0600" + b"0" * 16))
    assert len(answers) == 1
    msg = decode(SPEC, answers[0])
    assert msg["t"] == "0610"
    assert msg["39"] == "30"


async def test_undecodable_with_readable_mti_gets_30_and_is_journalled(host: Host) -> None:
    answers = await _exchange(host[1], frame(b"0200ZZZZ-broken-bitmap"))
    assert decode(SPEC, answers[0]) == {"t": "0210", "39": "30"}
    entry = host[0].journal.query(mti="0200")[-1]
    assert entry.rc == "30"
    assert entry.peer.startswith("127.0.0.1:")
    assert entry.decision.startswith("undecodable")


async def test_unreadable_frame_is_closed_without_answer(host: Host) -> None:
    assert await _exchange(host[1], frame(b"\x00\x01garbage")) == []
    assert await _exchange(host[1], b"\xff\xff" + b"x" * 10) == []  # oversized length
    assert await _exchange(host[1], frame(b"0800" + b"1" * 40)[:20]) == []  # truncated
    assert await _exchange(host[1], b"\x00\x00") == []  # zero length
    decisions = [e.decision for e in host[0].journal.query()]
    assert sum(d.startswith("bad frame") for d in decisions) == 3
    assert any(d.startswith("undecodable") for d in decisions)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.binary(min_size=1, max_size=600).map(frame),
        st.builds(
            lambda n, b: struct.pack(">H", n) + b, st.integers(8193, 65535), st.binary(max_size=50)
        ),
        st.builds(
            lambda b, cut: frame(b)[: max(1, cut % (len(b) + 2))],
            st.binary(min_size=1, max_size=200),
            st.integers(0, 1000),
        ),
        st.builds(
            lambda digits, b: frame(digits.encode() + b),
            st.from_regex(r"\A0[1-9][0-9]0\Z"),
            st.binary(max_size=200),
        ),
    )
)
async def test_fuzz_never_kills_the_server(
    host: Host, client: HostClient, cards: Cards, data: bytes
) -> None:
    _assert_format_errors_only(await _exchange(host[1], data))
    assert (await client.echo())["39"] == "00"  # the long-lived terminal is undisturbed


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=4)
)
async def test_fuzz_mutated_sales_never_approve_and_never_kill(
    host: Host, client: HostClient, cards: Cards, flips: list[tuple[int, int]]
) -> None:
    raw = bytearray(client.pack(client.sale_msg(cards.good, 100)))
    for pos, xor in {p % len(raw): x for p, x in flips}.items():  # distinct positions
        raw[pos] ^= xor
    answers = await _exchange(host[1], frame(bytes(raw)))
    for answer in answers:
        assert decode(SPEC, answer)["39"] != "00"  # a damaged message is never approved
    assert (await client.echo())["39"] == "00"


async def test_journal_and_logs_hold_no_clear_pan(
    host: Host, client: HostClient, cards: Cards, capsys: object
) -> None:
    await client.sale(cards.good, 100, pin="123456")
    await client.sale(cards.good, 100, pin="000000")
    raw = bytearray(client.pack(client.sale_msg(cards.good, 100)))
    raw[30] ^= 0x55
    await _exchange(host[1], frame(bytes(raw)))
    for entry in host[0].journal.query():
        assert not contains_pan(repr(entry))
    out = capsys.readouterr()  # type: ignore[attr-defined]
    assert not contains_pan(out.out + out.err)


async def test_fifty_terminals_at_once_keep_the_ledger_exact(cards: Cards) -> None:
    fleet = with_terminals(default_seed(), 50)
    async with running_host(fleet) as host:
        await _fifty(host, fleet, cards)


async def _fifty(host: Host, fleet: SeedData, cards: Cards) -> None:
    led = host[2]
    before = led.balance_of_card(cards.good)

    async def terminal(i: int) -> int:
        async with HostClient(host[1], tid=f"5{i:07d}", seed=fleet) as c:
            assert (await c.sign_on())["39"] == "00"
            approved = 0
            for _ in range(4):
                approved += (await c.sale(cards.good, 10))["39"] == "00"
            return approved

    results = await asyncio.gather(*(terminal(i) for i in range(50)))
    assert sum(results) == 200
    assert led.balance_of_card(cards.good) == before - 200 * 10
