"""Void of a pre-authorisation completion (预授权完成撤销: 0200, field 3 = 200000, 60.1 = 21)
booked by the host. UnionPay practice: the void names its original completion in field 61
(batch + STAN + date) and 37 (RRN), for the same amount and card; the completion's charge
is given back and the pre-authorisation stands again; it is reversible (0400 undoes it); a
voided completion counts in no settlement total (debits = sales + completions not voided or
reversed). Played over real sockets by an independent terminal (:mod:`mac_peer`)."""

from __future__ import annotations

from typing import Any

from posguard.host.ledger import Ledger
from posguard.host.testing import running_host, terminal_seed

from .conftest import Cards
from .mac_peer import Fields, MacPeer

TID = "10000001"


def _peer(port: int) -> MacPeer:
    t = terminal_seed(TID)
    return MacPeer(port, TID, t.mid, t.tmk)


def _of(t: MacPeer, sent: Fields, answer: dict[Any, str]) -> dict[str, str]:
    """Fields 37 and 61 naming ``sent`` (answered ``answer``) as the original."""
    return {"f37": answer[37], "f61": t.batch + str(sent[11]) + str(sent[13])}


def _account(ledger: Ledger, pan: str) -> tuple[int, int]:
    card = ledger.card(pan)
    assert card is not None
    acct = ledger.account(card.account_id)
    assert acct is not None
    return acct.balance, acct.held


async def _preauth_and_completion(
    t: MacPeer, pan: str, held: int, charged: int
) -> tuple[Fields, dict[Any, str], Fields, dict[Any, str]]:
    pre = t.card("030000", "10", pan, held, f25="06")
    pre_answer = await t.send("0100", pre)
    assert pre_answer[39] == "00"
    comp = t.card("000000", "20", pan, charged, f25="06", **_of(t, pre, pre_answer))
    comp_answer = await t.send("0200", comp)
    assert comp_answer[39] == "00"
    return pre, pre_answer, comp, comp_answer


async def test_completion_void_gives_the_charge_back_and_the_preauth_stands_again(
    cards: Cards,
) -> None:
    async with running_host() as (_host, port, ledger), _peer(port) as t:
        await t.sign_on()
        before = _account(ledger, cards.good)
        _pre, _pa, comp, comp_answer = await _preauth_and_completion(t, cards.good, 10_000, 9_000)
        assert _account(ledger, cards.good) == (before[0] - 9_000, before[1])
        void = t.card("200000", "21", cards.good, 9_000, f25="06", **_of(t, comp, comp_answer))
        answer = await t.send("0200", void)
        assert (answer[39], answer[60][:2]) == ("00", "21")
        assert 64 in answer  # an approval carries the host's MAC
        assert _account(ledger, cards.good) == (before[0], before[1] + 10_000)
        kinds = [(x.kind, x.status) for x in ledger.transactions(TID)]
        assert kinds == [
            ("preauth", "approved"),
            ("completion", "voided"),
            ("completion_void", "approved"),
        ]
        # settlement: the voided completion counts nowhere
        settle = t.fields("00", "201")
        settle.update({48: "0" * 30 + "0", 49: "156"})
        settled = await t.send("0500", settle)
        assert (settled[39], settled[48]) == ("00", "0" * 30 + "1")


async def test_completion_void_must_match_its_completion(cards: Cards) -> None:
    async with running_host() as (_host, port, ledger), _peer(port) as t:
        await t.sign_on()
        _pre, _pa, comp, comp_answer = await _preauth_and_completion(t, cards.good, 5_000, 5_000)
        sale = t.card("000000", "22", cards.good, 700)
        sale_answer = await t.send("0200", sale)
        original = _of(t, comp, comp_answer)
        balance = _account(ledger, cards.good)

        async def void(pan: str, amount: int, **of: str) -> str:
            return (await t.send("0200", t.card("200000", "21", pan, amount, f25="06", **of)))[39]

        assert await void(cards.good, 4_999, **original) == "64"  # not the completion's amount
        assert await void(cards.visa, 5_000, **original) == "25"  # another card
        missing = {"f37": "000000000000", "f61": t.batch + "999999" + str(comp[13])}
        assert await void(cards.good, 5_000, **missing) == "25"  # no such original
        assert await void(cards.good, 700, **_of(t, sale, sale_answer)) == "12"  # a sale
        assert _account(ledger, cards.good) == balance  # none of them moved money
        assert await void(cards.good, 5_000, **original) == "00"
        assert await void(cards.good, 5_000, **original) == "12"  # already voided


async def test_a_reversed_completion_void_charges_the_completion_again(cards: Cards) -> None:
    async with running_host() as (_host, port, ledger), _peer(port) as t:
        await t.sign_on()
        before = _account(ledger, cards.good)
        _pre, _pa, comp, comp_answer = await _preauth_and_completion(t, cards.good, 8_000, 7_500)
        void = t.card("200000", "21", cards.good, 7_500, f25="06", **_of(t, comp, comp_answer))
        assert (await t.send("0200", void))[39] == "00"
        reversal = {k: v for k, v in void.items() if k != 37}
        reversal[39] = "98"
        answer = await t.send("0400", reversal)
        assert answer[39] == "00"
        assert _account(ledger, cards.good) == (before[0] - 7_500, before[1])
        statuses = [(x.kind, x.status) for x in ledger.transactions(TID)]
        assert statuses == [
            ("preauth", "completed"),
            ("completion", "approved"),
            ("completion_void", "reversed"),
        ]
        repeat = {**reversal, 11: void[11]}
        assert (await t.send("0400", repeat))[39] == "00"  # a repeat changes nothing
        assert _account(ledger, cards.good) == (before[0] - 7_500, before[1])
        settle = t.fields("00", "201")
        settle.update({48: f"{7_500:012d}001" + "0" * 15 + "0", 49: "156"})
        assert (await t.send("0500", settle))[48][-1] == "1"  # the completion counts again
