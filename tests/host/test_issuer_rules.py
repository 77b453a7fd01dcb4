"""Issuer rules a real host enforces, driven over real sockets.

- Online PIN (UnionPay practice: a UnionPay debit card read by magnetic stripe or contact chip
  needs an online PIN, field 52; contactless under the limit does not): none → 55.
- Currency (ISO 8583 field 49, ISO 4217 numeric): a currency the account does not take is
  declined 13 (documented in docs/iso8583-profile.md) unless the seed lets the account take it.
- Dates (ISO 8583 fields 12 hhmmss, 13 MMDD): not a time / date → 30; the duplicate check is
  (terminal, batch, STAN) and a changed field 13 does not charge twice.
- Processing code (field 3) not in the profile → 12 (invalid transaction), answered to an
  authenticated terminal; response-class MTIs (ISO 8583 MTI position 3 = 1 or 3) get no
  financial processing and no answer.
"""

from __future__ import annotations

from posguard.host.ledger import Ledger
from posguard.host.seed import AccountSeed, default_seed
from posguard.host.server import HostServer
from posguard.host.testing import HostClient, running_host

from .conftest import Cards
from .raw_peer import RawPeer, build, parse

Host = tuple[HostServer, int, Ledger]


async def test_card_needing_online_pin_is_55_without_field_52_on_contact_entries(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    before = led.balance_of_card(cards.online_pin)
    for entry in ("051", "021"):
        msg = {**client.sale_msg(cards.online_pin, 1_000), "22": entry}
        assert (await client.request(msg))["39"] == "55", entry
    assert led.balance_of_card(cards.online_pin) == before
    contactless = {**client.sale_msg(cards.online_pin, 1_000), "22": "071"}
    assert (await client.request(contactless))["39"] == "00"
    with_pin = await client.sale(cards.online_pin, 1_000, pin="123456")
    assert with_pin["39"] == "00"
    assert led.balance_of_card(cards.online_pin) == before - 2_000
    # a card without the rule is not affected
    assert (await client.sale(cards.good, 100))["39"] == "00"


async def test_currency_the_account_does_not_take_is_13(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    before = led.balance_of_card(cards.good)
    usd = {**client.sale_msg(cards.good, 1_000), "49": "840"}
    answer = await client.request(usd)
    assert answer["39"] == "13"
    assert led.balance_of_card(cards.good) == before
    assert "currency 840" in host[0].journal.query(mti="0200")[-1].decision


async def test_currency_the_seed_enables_is_approved(cards: Cards) -> None:
    seed = default_seed()
    accounts = [
        a.model_copy(update={"other_currencies": ["840"]}) if a.id == "ACC-ZHANG" else a
        for a in seed.accounts
    ]
    assert isinstance(accounts[0], AccountSeed)
    enabled = seed.model_copy(update={"accounts": accounts})
    async with running_host(enabled) as (_, port, led), HostClient(port) as c:
        await c.sign_on()
        before = led.balance_of_card(cards.good)
        assert (await c.request({**c.sale_msg(cards.good, 1_000), "49": "840"}))["39"] == "00"
        assert led.balance_of_card(cards.good) == before - 1_000


async def test_impossible_time_or_date_is_30_and_echoes_the_keys(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    before = led.balance_of_card(cards.good)
    for field, value in (("13", "1301"), ("13", "0231"), ("12", "256100"), ("12", "236160")):
        msg = {**client.sale_msg(cards.good, 1_000), field: value}
        answer = await client.request(msg)
        assert answer["39"] == "30", (field, value)
        assert (answer["3"], answer["11"], answer["41"]) == (msg["3"], msg["11"], msg["41"])
    assert led.balance_of_card(cards.good) == before
    assert f"field {field}" in host[0].journal.query(mti="0200")[-1].decision


async def test_changed_field_13_does_not_charge_twice(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    before = led.balance_of_card(cards.good)
    sale = client.sale_msg(cards.good, 10_000)
    assert (await client.request(sale))["39"] == "00"
    other_day = "0101" if sale["13"] != "0101" else "0102"
    again = await client.request({**sale, "13": other_day})
    assert again["39"] == "94"
    assert led.balance_of_card(cards.good) == before - 10_000
    assert len(led.transactions()) == 1


async def test_unknown_processing_code_is_12_and_changes_nothing(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    before = led.balance_of_card(cards.good)
    for f3 in ("990000", "400000"):
        msg = {**client.sale_msg(cards.good, 1_000), "3": f3}
        answer = await client.request(msg)
        assert (answer["t"], answer["39"], answer["3"]) == ("0210", "12", f3)
    assert led.balance_of_card(cards.good) == before
    assert led.transactions() == []


async def test_response_class_mti_is_not_processed_nor_answered(host: Host, cards: Cards) -> None:
    server, port, led = host
    before = led.balance_of_card(cards.good)
    fields = {
        2: cards.good,
        3: "000000",
        4: "000000001000",
        11: "000321",
        39: "00",
        41: "10000001",
        42: "898310048161234",
        49: "156",
        60: "22000001000",
    }
    async with RawPeer(port) as peer:
        for mti in ("0210", "0410", "0230"):
            await peer.send(build(mti, fields))
        # the connection stays usable: the next (unauthenticated) echo is answered 77 or 00
        echo = build(
            "0820", {11: "000322", 41: "10000001", 42: "898310048161234", 60: "00000001301"}
        )
        answer = await peer.exchange(echo)
    assert answer is not None
    parsed = parse(answer)
    assert (parsed["mti"], parsed[11]) == ("0830", "000322")
    assert led.balance_of_card(cards.good) == before
    assert led.transactions() == []
    ignored = [e for e in server.journal.query(tid="10000001") if e.mti in ("0210", "0410", "0230")]
    assert [(e.mti, e.rc, e.answer_mti) for e in ignored] == [
        ("0210", "", ""),
        ("0410", "", ""),
        ("0230", "", ""),
    ]


async def test_mti_not_in_the_profile_is_30_with_the_keys_echoed(host: Host) -> None:
    async with RawPeer(host[1]) as peer:
        answer = await peer.exchange(
            build("0600", {3: "000000", 11: "000777", 41: "10000001", 42: "898310048161234"})
        )
    assert answer is not None
    parsed = parse(answer)
    assert (parsed["mti"], parsed[39]) == ("0610", "30")
    assert (parsed[3], parsed[11], parsed[41], parsed[42]) == (
        "000000",
        "000777",
        "10000001",
        "898310048161234",
    )
