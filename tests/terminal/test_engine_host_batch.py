"""The terminal runtime against the host simulator on the two rules the host now books:
the batch it assigns at sign-on (a request in another batch is 77; the terminal signs on at
once and takes the host's batch), and the void of a pre-auth completion (0200, 60.1 = 21)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from posguard.host.ledger import Ledger
from posguard.host.seed import SeedData
from posguard.host.server import HostServer
from posguard.host.testing import running_host
from posguard.terminal.journal import TxnState
from posguard.terminal.reconcile import reconcile
from posguard.terminal.result import Outcome
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import LAB_EXPIRY, LAB_TID, lab_cards, lab_seed, local_config

PAN = lab_cards()[0]


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[HostServer, Ledger, Terminal]]:
    async with running_host(SeedData.model_validate(lab_seed())) as (host, port, ledger):
        terminal = Terminal(local_config(port, tmp_path / "j.db"))
        async with terminal:
            yield host, ledger, terminal


async def _differences(host: HostServer, ledger: Ledger, terminal: Terminal) -> list[Any]:
    rows: Any = await host.call(lambda: ledger.transactions(LAB_TID))
    return reconcile(rows, terminal.journal.records())


async def test_completion_void_is_booked_by_the_host_and_books_agree(
    pair: tuple[HostServer, Ledger, Terminal],
) -> None:
    host, ledger, t = pair
    pre = await t.preauth(PAN, LAB_EXPIRY, 10_000)
    done = await t.completion(pre.stan or "", 9_000)
    void = await t.void(done.stan or "")
    assert (void.outcome, void.rc) == (Outcome.APPROVED, "00")
    rows: Any = await host.call(lambda: ledger.transactions(LAB_TID))
    assert [(r.kind, r.status) for r in rows] == [
        ("preauth", "approved"),
        ("completion", "voided"),
        ("completion_void", "approved"),
    ]
    assert await _differences(host, ledger, t) == []
    settled = await t.settle()
    assert settled.balanced
    assert (settled.totals.debit_count, settled.totals.debit_amount) == (0, 0)


async def test_host_moves_the_batch_terminal_is_refused_77_then_takes_the_hosts_batch(
    pair: tuple[HostServer, Ledger, Terminal],
) -> None:
    host, ledger, t = pair
    first = await t.sale(PAN, LAB_EXPIRY, 100)
    assert (first.outcome, first.batch) == (Outcome.APPROVED, "000001")
    settled = await t.settle()
    assert (settled.balanced, settled.next_batch) == (True, "000002")
    assert await host.call(lambda: ledger.open_batch(LAB_TID)) == "000002"
    # the acquirer cuts over to another batch on its side (e.g. its own end of day)
    await host.call(lambda: ledger.set_open_batch(LAB_TID, "000005"))
    refused = await t.sale(PAN, LAB_EXPIRY, 200)
    assert (refused.outcome, refused.rc, refused.charged) == (Outcome.DECLINED, "77", False)
    assert t.journal.current_batch() == "000005"  # signed on again at once, the host's batch
    left = t.journal.find(stan=refused.stan or "", batch="000002")
    assert left is not None
    assert left.state is TxnState.DECLINED  # stays in its batch, counted nowhere
    retried = await t.sale(PAN, LAB_EXPIRY, 200)
    assert (retried.outcome, retried.batch) == (Outcome.APPROVED, "000005")
    assert await _differences(host, ledger, t) == []
