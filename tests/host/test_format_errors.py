"""Format-error answers a terminal can match, and the UnionPay header rule.

Rule (docs/iso8583-profile.md, after ISO 8583:1987 and UnionPay practice): every answer carries
3, 11, 39, 41 and 42, so a format-error answer (39 = 30) echoes whichever of 3, 11, 41, 42 the
host could read. The UnionPay TPDU starts with ID 60 and the 6-byte header a terminal sends has
application type 60, terminal status 0/1 and processing request 0 (only the host asks for
processing); anything else is a format error, journalled. The peer here builds its bytes by
hand (tests/host/raw_peer.py), independent of posguard's codec.
"""

from __future__ import annotations

from posguard.host.ledger import Ledger
from posguard.host.server import HostServer
from posguard.host.testing import HostClient, running_host

from .conftest import Cards
from .raw_peer import RawPeer, build, parse

Host = tuple[HostServer, int, Ledger]
KEYS = {3: "000000", 11: "004711", 41: "10000001", 42: "898310048161234"}


async def test_missing_mandatory_field_is_30_echoing_3_11_41_42(host: Host, cards: Cards) -> None:
    sale_without_amount = {**KEYS, 2: cards.good, 22: "051", 25: "00", 49: "156", 60: "22000001000"}
    async with RawPeer(host[1]) as peer:
        answer = await peer.exchange(build("0200", sale_without_amount))
    assert answer is not None
    got = parse(answer)
    assert (got["mti"], got[39]) == ("0210", "30")
    assert {k: got.get(k) for k in KEYS} == KEYS
    assert 2 not in got  # card data never echoed
    entry = host[0].journal.query(tid="10000001")[-1]
    assert (entry.stan, entry.rc) == ("004711", "30")
    assert "field 4" in entry.decision


async def test_undecodable_message_echoes_the_fields_read_before_the_fault(host: Host) -> None:
    # field 60 says 011 digits but the frame ends after 5: the decoder fails at 60, after
    # having read 3, 11, 41 and 42
    good = build("0200", {**KEYS, 60: "22000001000"})
    broken = good[: len(good) - 6]
    async with RawPeer(host[1]) as peer:
        answer = await peer.exchange(broken)
    assert answer is not None
    got = parse(answer)
    assert (got["mti"], got[39]) == ("0210", "30")
    assert {k: got.get(k) for k in KEYS} == KEYS
    entry = host[0].journal.query(mti="0200")[-1]
    assert (entry.tid, entry.stan, entry.rc) == ("10000001", "004711", "30")
    assert entry.decision.startswith("undecodable")


async def test_format_error_on_a_decoded_message_keeps_the_connection_usable(
    host: Host,
) -> None:
    async with RawPeer(host[1]) as peer:
        first = await peer.exchange(build("0200", {**KEYS, 13: "1399"}))
        second = await peer.exchange(
            build("0820", {11: "004712", 41: "10000001", 42: "898310048161234", 60: "00000001301"})
        )
    assert first is not None
    assert second is not None
    assert parse(first)[39] == "30"
    assert parse(second)["mti"] == "0830"


async def test_unionpay_header_the_profile_forbids_is_30_and_journalled(cards: Cards) -> None:
    async with (
        running_host(spec="unionpay") as (host, port, led),
        HostClient(port, spec="unionpay") as c,
    ):
        assert (await c.sign_on())["39"] == "00"
        before = led.balance_of_card(cards.good)
        for bad, why in (
            ("6100000000603100000000", "TPDU ID 61"),
            ("6000000000703100000000", "application type 70"),
            ("6000000000603101000000", "processing request 1"),
            ("6000000000603120000000", "terminal status 2"),
        ):
            msg = {**c.sale_msg(cards.good, 1_000), "h": bad}
            answer = await c.request(msg)
            assert answer["39"] == "30", bad
            assert (answer["11"], answer["41"]) == (msg["11"], msg["41"])
            entry = host.journal.query(mti="0200")[-1]
            assert entry.rc == "30"
            assert why in entry.decision
        assert led.balance_of_card(cards.good) == before
        ok = await c.request({**c.sale_msg(cards.good, 1_000), "h": "6000120034603100000000"})
        assert ok["39"] == "00"
        assert ok["h"] == "6000340012603100000000"  # TPDU addresses swapped


async def test_a_field_failing_the_digits_check_still_echoes_3_11_41_42(host: Host) -> None:
    """The decoder reads the whole message, then field 4 fails the digits-only check: the 30
    answer still echoes the fields that did read (3, 11, 41, 42), never the bad one or the PAN."""
    fields = {**KEYS, 2: "6214830000000015", 4: "00000000010X", 60: "22000001000"}
    async with RawPeer(host[1]) as peer:
        answer = await peer.exchange(build("0200", fields))
    assert answer is not None
    got = parse(answer)
    assert (got["mti"], got[39]) == ("0210", "30")
    assert {k: got.get(k) for k in KEYS} == KEYS
    assert 2 not in got
    assert 4 not in got
    entry = host[0].journal.query(mti="0200")[-1]
    assert (entry.tid, entry.stan, entry.rc) == ("10000001", "004711", "30")
    assert "field 4" in entry.decision


async def test_a_bad_stan_is_not_echoed_but_the_rest_is(host: Host) -> None:
    fields = {**KEYS, 11: "00A711", 60: "22000001000"}
    async with RawPeer(host[1]) as peer:
        answer = await peer.exchange(build("0200", fields))
    assert answer is not None
    got = parse(answer)
    assert got[39] == "30"
    assert 11 not in got
    assert (got[3], got[41], got[42]) == (KEYS[3], KEYS[41], KEYS[42])
