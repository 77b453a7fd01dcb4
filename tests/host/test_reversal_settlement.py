"""Reversal after a dropped answer, follow-up operations, settlement and batch upload."""

from __future__ import annotations

import pytest

from posguard.common.errors import FrameError
from posguard.host.faults import Fault
from posguard.host.ledger import Ledger
from posguard.host.server import HostServer
from posguard.host.testing import HostClient, running_host, running_proxy
from posguard.iso8583.fields import parse_settlement_totals

from .conftest import Cards

Host = tuple[HostServer, int, Ledger]


async def test_dropped_answer_then_reversal_restores_balance_exactly_once(
    spec: str, cards: Cards
) -> None:
    async with running_host(spec=spec) as (host, port, ledger), running_proxy(port) as proxy:
        before = ledger.balance_of_card(cards.good)
        async with HostClient(proxy.port, spec=spec, timeout=0.5) as c:
            await c.sign_on()
            proxy.set_fault(Fault(kind="drop_response", frames=1))
            sale = c.sale_msg(cards.good, 8_800)
            with pytest.raises(FrameError):  # read timeout: the host debited, we never heard
                await c.request(sale)
            assert ledger.balance_of_card(cards.good) == before - 8_800
            assert (await c.request(c.reversal_of(sale)))["39"] == "00"
            for _ in range(3):
                answer = await c.request(c.reversal_of(sale, repeat=True))
                assert answer["t"] == "0410"
                assert answer["39"] == "00"
        assert ledger.balance_of_card(cards.good) == before
        reversals = [e for e in host.journal.query(tid="10000001") if e.mti in ("0400", "0401")]
        assert [e.mti for e in reversals] == ["0400", "0401", "0401", "0401"]
        assert reversals[0].decision == "sale reversed (reason 98)"
        assert [e.decision for e in reversals][1:] == [
            "already reversed: nothing to undo (reason 98, repeat)"
        ] * 3


async def test_reversal_of_unknown_transaction_is_00_and_changes_nothing(
    client: HostClient, cards: Cards, host: Host
) -> None:
    before = host[2].balance_of_card(cards.good)
    ghost = client.sale_msg(cards.good, 1_000)  # never sent
    assert (await client.request(client.reversal_of(ghost)))["39"] == "00"
    assert host[2].balance_of_card(cards.good) == before
    assert host[2].transactions() == []
    [early] = host[2].early_reversals()
    assert (early.stan, early.amount, early.late_txn_id) == (str(ghost["11"]), 1_000, None)


async def test_void_then_its_reversal_puts_the_sale_back(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    before = led.balance_of_card(cards.good)
    sale_msg = client.sale_msg(cards.good, 2_000)
    await client.request(sale_msg)
    void_msg = client.card_txn("0200", "200000", "23", cards.good, 2_000, original=sale_msg)
    assert (await client.request(void_msg))["39"] == "00"
    assert led.balance_of_card(cards.good) == before
    assert (await client.request(client.reversal_of(void_msg)))["39"] == "00"
    assert led.balance_of_card(cards.good) == before - 2_000
    assert [t.status for t in led.transactions()] == ["approved", "reversed"]


async def test_preauth_hold_completion_and_reversal_of_completion(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    card = led.card(cards.good)
    assert card is not None
    acct0 = led.account(card.account_id)
    assert acct0 is not None
    pre = client.card_txn("0100", "030000", "10", cards.good, 10_000)
    assert (await client.request(pre))["39"] == "00"
    acct = led.account(card.account_id)
    assert acct is not None
    assert acct.held == 10_000
    assert acct.balance == acct0.balance
    assert (await client.completion(pre, cards.good, 11_600))["39"] == "13"  # > 115 %
    comp = client.card_txn("0200", "000000", "20", cards.good, 9_000, original=pre)
    assert (await client.request(comp))["39"] == "00"
    acct = led.account(card.account_id)
    assert acct is not None
    assert acct.held == 0
    assert acct.balance == acct0.balance - 9_000
    assert (await client.request(client.reversal_of(comp)))["39"] == "00"
    acct = led.account(card.account_id)
    assert acct is not None
    assert acct.held == 10_000
    assert acct.balance == acct0.balance
    assert (await client.preauth_void(pre, cards.good, 10_000))["39"] == "00"
    acct = led.account(card.account_id)
    assert acct is not None
    assert acct.held == 0


async def test_refund_limited_to_what_is_left(client: HostClient, cards: Cards, host: Host) -> None:
    led = host[2]
    before = led.balance_of_card(cards.good)
    sale_msg = client.sale_msg(cards.good, 5_000)
    await client.request(sale_msg)
    assert (await client.refund(sale_msg, cards.good, 3_000))["39"] == "00"
    assert (await client.refund(sale_msg, cards.good, 2_001))["39"] == "13"
    assert (await client.refund(sale_msg, cards.good, 2_000))["39"] == "00"
    assert led.balance_of_card(cards.good) == before


async def test_settlement_in_balance(client: HostClient, cards: Cards) -> None:
    s1 = client.sale_msg(cards.good, 1_000)
    await client.request(s1)
    s2 = client.sale_msg(cards.good, 2_000)
    await client.request(s2)
    await client.void(s2, cards.good, 2_000)
    await client.refund(s1, cards.good, 300)
    answer = await client.settle(1, 1_000, 1, 300)
    assert answer["39"] == "00"
    totals, flag = parse_settlement_totals(str(answer["48"]))
    assert flag == "1"
    assert tuple(totals) == (1, 1_000, 1, 300)


async def test_out_of_balance_upload_records_missing_on_terminal_and_keeps_the_charge(
    cards: Cards, spec: str
) -> None:
    """UnionPay practice: batch upload differences go to exception handling (差错处理); the
    host never refunds a cardholder because the terminal lacks an approved sale."""
    async with running_host(spec=spec) as (_host, port, ledger), running_proxy(port) as proxy:
        before = ledger.balance_of_card(cards.good)
        async with HostClient(proxy.port, spec=spec, timeout=0.5) as c:
            await c.sign_on()
            kept = c.sale_msg(cards.good, 1_500)
            assert (await c.request(kept))["39"] == "00"
            proxy.set_fault(Fault(kind="drop_response", frames=1))
            lost = c.sale_msg(cards.good, 4_000)
            with pytest.raises(FrameError):
                await c.request(lost)  # the terminal never learns of it (and does not reverse)
            answer = await c.settle(1, 1_500)
            assert answer["39"] == "95"
            host_totals, flag = parse_settlement_totals(str(answer["48"]))
            assert flag == "2"
            assert tuple(host_totals) == (2, 5_500, 0, 0)
            assert (await c.upload(kept))["39"] == "00"
            end = await c.end_upload()
            assert end["39"] == "00"
            end_totals, end_flag = parse_settlement_totals(str(end["48"]))
            assert end_flag == "2"  # 对账应答代码: not in balance
            assert tuple(end_totals) == (2, 5_500, 0, 0)
        assert ledger.balance_of_card(cards.good) == before - 5_500  # as authorised
        [diff] = ledger.exceptions()
        assert (diff.kind, diff.stan, diff.host_amount, diff.terminal_amount, diff.state) == (
            "missing_on_terminal",
            str(lost["11"]),
            4_000,
            None,
            "open",
        )


async def test_upload_the_host_never_authorised_is_missing_on_host_and_debits_nobody(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    before = led.balance_of_card(cards.good)
    offline = client.sale_msg(cards.good, 700)  # never sent online
    assert (await client.settle(1, 700))["39"] == "95"
    await client.upload(offline)
    end = await client.end_upload()
    assert end["39"] == "00"
    assert parse_settlement_totals(str(end["48"]))[1] == "2"
    assert led.balance_of_card(cards.good) == before
    assert led.transactions() == []
    [diff] = led.exceptions()
    assert (diff.kind, diff.stan, diff.terminal_amount, diff.host_txn_id) == (
        "missing_on_host",
        str(offline["11"]),
        700,
        None,
    )


async def test_empty_end_of_upload_keeps_the_batch_and_records_every_sale(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    before = led.balance_of_card(cards.good)
    await client.sale(cards.good, 1_000)
    await client.sale(cards.good, 2_000)
    assert (await client.settle(0, 0))["39"] == "95"
    end = await client.end_upload()
    assert end["39"] == "00"
    assert led.balance_of_card(cards.good) == before - 3_000
    assert [t.status for t in led.transactions()] == ["approved", "approved"]
    assert sorted((e.kind, e.host_amount) for e in led.exceptions()) == [
        ("missing_on_terminal", 1_000),
        ("missing_on_terminal", 2_000),
    ]


async def test_amount_differs_is_recorded_and_a_repeated_upload_records_it_once(
    client: HostClient, cards: Cards, host: Host
) -> None:
    led = host[2]
    sale = client.sale_msg(cards.good, 1_000)
    assert (await client.request(sale))["39"] == "00"
    as_terminal_has_it = {**sale, "4": f"{1_200:012d}"}
    for _ in range(2):  # the terminal crashed after the first round and settles again
        assert (await client.settle(1, 1_200))["39"] == "95"
        await client.upload(as_terminal_has_it)
        assert (await client.end_upload())["39"] == "00"
    [diff] = led.exceptions()
    assert (diff.kind, diff.host_amount, diff.terminal_amount) == ("amount_differs", 1_000, 1_200)


async def test_upload_matching_the_books_is_in_balance_with_no_exception(
    client: HostClient, cards: Cards, host: Host
) -> None:
    sale = client.sale_msg(cards.good, 1_000)
    assert (await client.request(sale))["39"] == "00"
    assert (await client.settle(1, 999))["39"] == "95"  # the terminal's totals were wrong
    await client.upload(sale)
    end = await client.end_upload()
    assert end["39"] == "00"
    assert parse_settlement_totals(str(end["48"]))[1] == "2"  # totals still differ
    assert host[2].exceptions() == []
    assert (await client.settle(1, 1_000))["39"] == "00"


async def test_a_repeated_end_of_upload_answers_the_same_and_records_nothing_new(
    client: HostClient, cards: Cards, host: Host
) -> None:
    """The end-of-upload answer was lost and the terminal sends it again: same 39 and field 48,
    the uploads are still there (no sale turns into missing_on_terminal), no new exception."""
    led = host[2]
    kept = client.sale_msg(cards.good, 1_000)
    assert (await client.request(kept))["39"] == "00"
    other = client.sale_msg(cards.good, 2_000)
    assert (await client.request(other))["39"] == "00"
    offline = client.sale_msg(cards.good, 300)  # never sent online
    assert (await client.settle(3, 3_300))["39"] == "95"
    for msg in (kept, other, offline):
        assert (await client.upload(msg))["39"] == "00"
    first = await client.end_upload()
    recorded = [(e.kind, e.stan) for e in led.exceptions()]
    assert recorded == [("missing_on_host", str(offline["11"]))]
    again = await client.end_upload()
    assert (again["39"], again["48"]) == (first["39"], first["48"]) == ("00", again["48"])
    assert parse_settlement_totals(str(again["48"]))[1] == "2"
    assert [(e.kind, e.stan) for e in led.exceptions()] == recorded
    assert set(led.uploads(client.tid, client.batch)) == {
        str(m["11"]) for m in (kept, other, offline)
    }
    entry = host[0].journal.query(tid=client.tid, mti="0320")[-1]
    assert "repeated end of batch upload" in entry.decision
