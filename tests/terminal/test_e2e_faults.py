"""End to end through the fault proxy, one test per fault type: the terminal's outcome, the
host ledger and the terminal journal agree; nobody is charged twice; every sale the host
approved is either completed on the terminal or reversed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from posguard.common.events import EventKind
from posguard.host.faults import Fault
from posguard.host.ledger import Ledger
from posguard.host.proxy import FaultProxy
from posguard.host.seed import SeedData
from posguard.host.server import HostServer
from posguard.host.testing import running_host, running_proxy
from posguard.terminal.config import Timeouts
from posguard.terminal.journal import Kind, TxnState
from posguard.terminal.reconcile import reconcile
from posguard.terminal.result import Outcome
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import LAB_EXPIRY, LAB_TID, lab_cards, lab_seed, local_config

PAN = lab_cards()[0]
START_BALANCE = 10**12
READ = 0.5


@dataclass
class Rig:
    host: HostServer
    ledger: Ledger
    proxy: FaultProxy
    terminal: Terminal
    events: list[tuple[EventKind, str | None, dict[str, Any]]]

    async def books_agree(self) -> None:
        """Ledger vs journal: no difference; the account moved by exactly the completed sales."""
        rows = await self.host.call(lambda: self.ledger.transactions(LAB_TID))
        journal = self.terminal.journal.records()
        assert reconcile(rows, journal) == []  # type: ignore[arg-type]
        charged = sum(
            r.amount for r in journal if r.kind is Kind.SALE and r.state is TxnState.COMPLETED
        )
        account = await self.host.call(lambda: self.ledger.account("ACC-LAB"))
        assert START_BALANCE - account.balance == charged  # type: ignore[union-attr]

    def codes(self, kind: EventKind) -> list[str | None]:
        return [c for k, c, _d in self.events if k is kind]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with (
        running_host(SeedData.model_validate(lab_seed())) as (host, port, ledger),
        running_proxy(port) as proxy,
    ):
        events: list[tuple[EventKind, str | None, dict[str, Any]]] = []
        cfg = local_config(
            proxy.port, tmp_path / "j.db", timeouts=Timeouts(dns=1, connect=0.5, read=READ)
        )
        term = Terminal(cfg, emit=lambda k, c=None, **d: events.append((k, c, d)))
        async with term:
            assert (await term.sale(PAN, LAB_EXPIRY, 100)).outcome is Outcome.APPROVED  # signed on
            yield Rig(host, ledger, proxy, term, events)


async def host_status(rig: Rig, stan: str) -> str | None:
    txn = await rig.host.call(lambda: rig.ledger.find_txn(LAB_TID, stan, "000001"))
    return txn.status if txn is not None else None  # type: ignore[attr-defined]


async def test_refuse_fails_without_charge(rig: Rig) -> None:
    rig.proxy.set_fault(Fault(kind="refuse", hard=True))
    r = await rig.terminal.sale(PAN, LAB_EXPIRY, 500)
    assert (r.outcome, r.code) == (Outcome.FAILED_NO_CHARGE, "NET.CONNECT_REFUSED")
    assert rig.terminal.journal.find(stan=r.stan or "").state is TxnState.NOT_SENT  # type: ignore[union-attr]
    assert await host_status(rig, r.stan or "") is None
    rig.proxy.clear()
    await rig.books_agree()


async def test_refusing_primary_fails_over_to_backup(rig: Rig, tmp_path: Path) -> None:
    """Same fault with a backup host configured: the sale goes through the backup."""
    rig.proxy.set_fault(Fault(kind="refuse", hard=True))
    cfg = local_config([rig.proxy.port, rig.host.port], tmp_path / "j2.db", tid=LAB_TID)
    async with Terminal(cfg) as t2:
        # a second journal for the same terminal ID would reuse STANs: start it far away
        t2.journal._db.execute("UPDATE counters SET value = 500000 WHERE name = 'stan'")
        r = await t2.sale(PAN, LAB_EXPIRY, 300)
        assert (r.outcome, r.host) == (Outcome.APPROVED, "backup1")
        assert await host_status(rig, r.stan or "") == "approved"


async def test_black_hole_reverses_before_next_sale(rig: Rig) -> None:
    rig.proxy.set_fault(Fault(kind="blackhole"))
    r = await rig.terminal.sale(PAN, LAB_EXPIRY, 700)
    assert (r.outcome, r.code, r.reversal_reason) == (
        Outcome.PENDING_REVERSAL,
        "NET.READ_TIMEOUT",
        "98",
    )
    await rig.terminal.drain()  # the background try (0400) is black-holed too
    rig.proxy.clear()
    nxt = await rig.terminal.sale(PAN, LAB_EXPIRY, 700)  # the reversal goes first (as 0401)
    assert nxt.outcome is Outcome.APPROVED
    first = rig.terminal.journal.find(stan=r.stan or "")
    assert (first.state, first.reversal_attempts) == (TxnState.REVERSED, 2)  # type: ignore[union-attr]
    await rig.books_agree()


async def test_delay_beyond_timeout_is_reversed(rig: Rig) -> None:
    rig.proxy.set_fault(
        Fault(kind="delay", delay_ms=READ * 1000 + 400, direction="response", frames=1)
    )
    r = await rig.terminal.sale(PAN, LAB_EXPIRY, 900)
    assert (r.outcome, r.code, r.reversal_reason) == (
        Outcome.PENDING_REVERSAL,
        "NET.READ_TIMEOUT",
        "98",
    )
    await rig.terminal.drain()  # answered at the timeout, reversed right after
    assert await host_status(rig, r.stan or "") == "reversed"  # it was approved, then undone
    await rig.books_agree()


async def test_dropped_response_is_reversed(rig: Rig) -> None:
    rig.proxy.set_fault(Fault(kind="drop_response", frames=1))
    r = await rig.terminal.sale(PAN, LAB_EXPIRY, 1100)
    assert (r.outcome, r.code) == (Outcome.PENDING_REVERSAL, "NET.READ_TIMEOUT")
    await rig.terminal.drain()  # answered at once, reversed right after
    assert await host_status(rig, r.stan or "") == "reversed"
    await rig.books_agree()


async def test_reset_mid_frame_is_reversed(rig: Rig) -> None:
    rig.proxy.set_fault(Fault(kind="reset_mid_frame", frames=1))
    r = await rig.terminal.sale(PAN, LAB_EXPIRY, 1300)
    assert (r.outcome, r.code) == (Outcome.PENDING_REVERSAL, "NET.CONNECTION_RESET")
    await rig.terminal.drain()  # answered at once, reversed right after
    assert await host_status(rig, r.stan or "") == "reversed"
    await rig.books_agree()


async def test_sliced_answer_is_reassembled(rig: Rig) -> None:
    rig.proxy.set_fault(Fault(kind="slice", pieces=5, piece_delay_ms=30, frames=1))
    r = await rig.terminal.sale(PAN, LAB_EXPIRY, 1500)
    assert r.outcome is Outcome.APPROVED
    assert rig.proxy.stats["faulted_frames"] == 1
    await rig.books_agree()


@pytest.mark.parametrize(
    ("position", "code", "reason"),
    [(80, "TXN.MAC_ERROR", "A0"), (10, "TXN.FORMAT_ERROR", "06")],
)
async def test_corrupt_answer_is_reversed(rig: Rig, position: int, code: str, reason: str) -> None:
    """A flipped byte in the answer: either the MAC fails (A0, keys dropped, sign on again
    before the reversal) or the answer no longer decodes (06)."""
    sign_ons = rig.terminal.services.session.sign_ons
    rig.proxy.set_fault(Fault(kind="corrupt", position=position, frames=1, seed=3))
    r = await rig.terminal.sale(PAN, LAB_EXPIRY, 1700)
    assert (r.outcome, r.code, r.reversal_reason) == (Outcome.REVERSED, code, reason)
    assert await host_status(rig, r.stan or "") == "reversed"
    assert code in rig.codes(EventKind.FAULT)
    assert rig.terminal.services.session.sign_ons == sign_ons + (reason == "A0")
    await rig.books_agree()


async def test_half_open_connection_is_reversed(rig: Rig) -> None:
    rig.proxy.set_fault(Fault(kind="half_open", frames=1))
    r = await rig.terminal.sale(PAN, LAB_EXPIRY, 1900)
    assert (r.outcome, r.code) == (Outcome.PENDING_REVERSAL, "NET.CONNECTION_RESET")
    await rig.terminal.drain()  # answered at once, reversed right after
    assert await host_status(rig, r.stan or "") == "reversed"
    await rig.books_agree()


async def test_starved_bandwidth_times_out_and_reverses(rig: Rig) -> None:
    rig.proxy.set_fault(Fault(kind="bandwidth", bytes_per_s=60, direction="response", frames=1))
    r = await rig.terminal.sale(PAN, LAB_EXPIRY, 2100)
    assert (r.outcome, r.code) == (Outcome.PENDING_REVERSAL, "NET.READ_TIMEOUT")
    await rig.terminal.drain()  # answered at once, reversed right after
    assert await host_status(rig, r.stan or "") == "reversed"
    await rig.books_agree()


async def test_refund_waits_in_store_and_forward_queue(rig: Rig) -> None:
    sale = await rig.terminal.sale(PAN, LAB_EXPIRY, 5000)
    rig.proxy.set_fault(Fault(kind="refuse", hard=True))
    refund = await rig.terminal.refund(sale.stan or "", 1200)
    assert refund.outcome is Outcome.STORED
    assert refund.charged
    assert [r.stan for r in rig.terminal.journal.pending_advices()] == [refund.stan]
    rig.proxy.clear()
    left = await rig.terminal.catch_up()
    assert left == (0, 0)
    assert rig.terminal.journal.find(stan=refund.stan or "").state is TxnState.COMPLETED  # type: ignore[union-attr]
    assert await host_status(rig, refund.stan or "") == "approved"
    rows = await rig.host.call(lambda: rig.ledger.transactions(LAB_TID))
    assert reconcile(rows, rig.terminal.journal.records()) == []  # type: ignore[arg-type]


async def test_background_maintenance_sends_the_reversal_without_a_new_sale(rig: Rig) -> None:
    rig.proxy.set_fault(Fault(kind="blackhole"))
    r = await rig.terminal.sale(PAN, LAB_EXPIRY, 2300)
    assert r.outcome is Outcome.PENDING_REVERSAL
    await rig.terminal.drain()  # the background try (0400) is black-holed too
    rig.proxy.clear()
    stop = asyncio.Event()
    task = asyncio.create_task(rig.terminal.maintain(stop, interval=0.05))
    for _ in range(100):
        if not rig.terminal.journal.pending_reversals():
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert rig.terminal.journal.find(stan=r.stan or "").state is TxnState.REVERSED  # type: ignore[union-attr]
    acknowledged = [
        d for k, _c, d in rig.events if k is EventKind.REVERSAL and d["stage"] == "acknowledged"
    ]
    assert [d["mti"] for d in acknowledged] == ["0401"]  # the first try (0400) was black-holed
    await rig.books_agree()
