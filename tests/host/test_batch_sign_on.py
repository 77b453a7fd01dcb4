"""The host assigns the batch (UnionPay practice: 签到 answers the batch number in 60.2 of the
0810; settlement — 0500 in balance, or the end of batch upload, 60.3 = 202 — closes it and the
next batch is the following number; a request in another batch than the open one is refused
77, 批次号/签到不符, and the terminal signs on again to learn it). Played over real sockets by
an independent terminal (:mod:`mac_peer`: its own ISO 8583 bytes, key unwrap and X9.19 MAC)."""

from __future__ import annotations

from pathlib import Path

from posguard.host.testing import running_host, terminal_seed

from .conftest import Cards
from .mac_peer import MacPeer

TID = "10000001"


def _peer(port: int) -> MacPeer:
    t = terminal_seed(TID)
    return MacPeer(port, TID, t.mid, t.tmk)


def _settlement(peer: MacPeer, debits: int, debit_amount: int, batch: str | None = None) -> dict:
    msg = peer.fields("00", "201", batch)
    msg[48] = f"{debit_amount:012d}{debits:03d}{0:012d}{0:03d}0"
    msg[49] = "156"
    return msg


async def test_sign_on_answers_the_open_batch_settlement_closes_it_and_a_restart_keeps_it(
    tmp_path: Path, cards: Cards
) -> None:
    db = str(tmp_path / "host.db")
    async with running_host(db=db) as (_host, port, ledger), _peer(port) as t:
        first = await t.sign_on(batch="000005")
        assert (first[39], first[60][2:8]) == ("00", "000005")  # first contact: its batch
        sale = await t.send("0200", t.card("000000", "22", cards.good, 1_000))
        assert sale[39] == "00"
        settled = await t.send("0500", _settlement(t, 1, 1_000))
        assert (settled[39], settled[48][-1]) == ("00", "1")
        again = await t.sign_on(batch="000005")  # the terminal asks with its old batch
        assert again[60][2:8] == "000006"
        assert ledger.open_batch(TID) == "000006"
    async with running_host(db=db) as (_host, port, _ledger), _peer(port) as t:
        after = await t.sign_on(batch="000001")  # a terminal that forgot: the host decides
        assert after[60][2:8] == "000006"
        sale = await t.send("0200", t.card("000000", "22", cards.good, 2_000))
        assert (sale[39], sale[60][2:8]) == ("00", "000006")


async def test_a_request_outside_the_open_batch_is_77_unmaced_and_books_nothing(
    cards: Cards,
) -> None:
    async with running_host() as (host, port, ledger), _peer(port) as t:
        await t.sign_on(batch="000003")
        stale = t.card("000000", "22", cards.good, 1_000)
        stale[60] = "22" + "000002" + "000"
        answer = await t.send("0200", stale)
        assert answer[39] == "77"
        assert 64 not in answer  # no MAC on a 77: the terminal cannot trust the session
        assert ledger.transactions() == []
        [entry] = host.journal.query(mti="0200")
        assert "batch 000002 is not the terminal's open batch 000003" in entry.decision
        preauth = t.card("030000", "10", cards.good, 500)
        preauth[60] = "10" + "000004" + "000"
        assert (await t.send("0100", preauth))[39] == "77"
        settle_other = await t.send("0500", _settlement(t, 0, 0, batch="000009"))
        assert settle_other[39] == "77"
        assert ledger.open_batch(TID) == "000003"  # nothing moved it


async def test_out_of_balance_keeps_the_batch_open_until_the_upload_ends(cards: Cards) -> None:
    async with running_host() as (_host, port, ledger), _peer(port) as t:
        await t.sign_on()
        assert (await t.send("0200", t.card("000000", "22", cards.good, 1_500)))[39] == "00"
        off = await t.send("0500", _settlement(t, 0, 0))
        assert (off[39], off[48][-1]) == ("95", "2")
        assert ledger.open_batch(TID) == "000001"  # the upload still belongs to it
        still = await t.sign_on()
        assert still[60][2:8] == "000001"
        end = await t.send("0320", t.fields("00", "202"))
        assert end[39] == "00"
        assert ledger.open_batch(TID) == "000002"
        # the terminal missed the 0330 and settles its batch again: answered, not 77
        repeat = await t.send("0500", _settlement(t, 1, 1_500, batch="000001"))
        assert (repeat[39], repeat[48][-1]) == ("00", "1")
        assert ledger.open_batch(TID) == "000002"  # a repeat closes nothing more
        # and a sale in the closed batch is refused until the terminal signs on again
        old = t.card("000000", "22", cards.good, 100)
        old[60] = "22000001000"
        assert (await t.send("0200", old))[39] == "77"
        assert (await t.sign_on())[60][2:8] == "000002"
        assert (await t.send("0200", t.card("000000", "22", cards.good, 100)))[39] == "00"
