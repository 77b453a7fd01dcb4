"""The host keeps honest books: a reversal must match its original (terminal, batch, STAN, amount,
card), a reversal that comes first is remembered, and the original that arrives after it is
never approved.

Rules: UnionPay POS practice (冲正: the host undoes the original it can match; a reversal whose
original is unknown is acknowledged so the terminal stops resending, and the host must not
later approve that original), ISO 8583:1987 response codes 25 (unable to locate original) and
64 (original amount incorrect). The client plays the terminal over real sockets; the proxy's
``delay`` fault makes the original arrive after its reversal, as on a slow link.
"""

from __future__ import annotations

import asyncio

import pytest

from posguard.common.errors import FrameError
from posguard.host.faults import Fault
from posguard.host.ledger import Ledger
from posguard.host.server import HostServer
from posguard.host.testing import HostClient, running_proxy

from .conftest import Cards

Host = tuple[HostServer, int, Ledger]


SLOW_LINKS = [
    Fault(kind="delay", direction="request", delay_ms=800, frames=1),
    Fault(kind="slice", direction="request", pieces=4, piece_delay_ms=270, frames=1),
]


@pytest.mark.parametrize("slow_link", SLOW_LINKS, ids=lambda f: f.kind)
async def test_late_original_after_its_reversal_is_declined_through_a_slow_link(
    host: Host, cards: Cards, slow_link: Fault
) -> None:
    """The terminal times out, reverses on a fresh connection; the delayed 0200 arrives after
    the 0400. The host must not charge the card the terminal reports as reversed."""
    _, port, led = host
    before = led.balance_of_card(cards.good)
    async with running_proxy(port) as proxy:
        slow = HostClient(proxy.port, timeout=0.3)
        async with slow:
            await slow.sign_on()
            proxy.set_fault(slow_link)
            sale = slow.sale_msg(cards.good, 100_000)
            with pytest.raises(FrameError):  # no answer in time: the terminal reverses
                await slow.request(sale)
            async with HostClient(port) as direct:
                direct.mac_key, direct.pin_key = slow.mac_key, slow.pin_key
                answer = await direct.request(direct.reversal_of(sale))
                assert answer["39"] == "00"
            await asyncio.sleep(1.0)  # the delayed original reaches the host now
    assert led.balance_of_card(cards.good) == before
    [txn] = led.transactions()
    assert (txn.stan, txn.status, txn.rc) == (str(sale["11"]), "declined", "12")
    [early] = led.early_reversals()
    assert early.late_txn_id == txn.id


async def test_late_original_is_declined_even_with_another_amount_and_repeats_are_94(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    before = led.balance_of_card(cards.good)
    sale = client.sale_msg(cards.good, 5_000)
    assert (await client.request(client.reversal_of(sale)))["39"] == "00"
    assert (await client.request(client.reversal_of(sale, repeat=True)))["39"] == "00"
    late = await client.request(sale)
    assert late["39"] == "12"
    assert late["11"] == sale["11"]
    assert (await client.request(sale))["39"] == "94"
    other_amount = {**sale, "4": f"{4_000:012d}"}
    assert (await client.request(other_amount))["39"] == "94"
    assert led.balance_of_card(cards.good) == before
    assert len(led.early_reversals()) == 1


async def test_reversal_with_another_amount_is_64_and_the_original_stands(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    before = led.balance_of_card(cards.good)
    sale = client.sale_msg(cards.good, 100_000)
    assert (await client.request(sale))["39"] == "00"
    tiny = {**client.reversal_of(sale), "4": f"{1:012d}"}
    answer = await client.request(tiny)
    assert (answer["t"], answer["39"], answer["11"]) == ("0410", "64", sale["11"])
    assert led.balance_of_card(cards.good) == before - 100_000
    assert [t.status for t in led.transactions()] == ["approved"]
    assert (await client.request(client.reversal_of(sale)))["39"] == "00"
    assert led.balance_of_card(cards.good) == before


async def test_reversal_carrying_another_card_is_25_and_the_original_stands(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    before = led.balance_of_card(cards.good)
    sale = client.sale_msg(cards.good, 2_500)
    assert (await client.request(sale))["39"] == "00"
    other_card = {**client.reversal_of(sale), "2": cards.visa}
    assert (await client.request(other_card))["39"] == "25"
    assert led.balance_of_card(cards.good) == before - 2_500
    assert [t.status for t in led.transactions()] == ["approved"]


async def test_reversal_in_another_batch_finds_no_original_and_reverses_nothing(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    before = led.balance_of_card(cards.good)
    sale = client.sale_msg(cards.good, 3_000)
    assert (await client.request(sale))["39"] == "00"
    client.batch = "000002"
    wrong_batch = client.reversal_of({**sale, "60": "22000002000"})
    assert (await client.request(wrong_batch))["39"] == "00"  # acknowledged, recorded
    assert led.balance_of_card(cards.good) == before - 3_000
    assert [t.status for t in led.transactions()] == ["approved"]
    assert [e.batch for e in led.early_reversals()] == ["000002"]
