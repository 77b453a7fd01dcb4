"""A card transaction's decision takes no savepoint inside the server's group
(:meth:`Ledger.decision`): one that fails before writing fails alone and the group commits;
one that fails after writing rolls the whole group back, and every caller of the group is told
so (nothing half-written is ever committed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from posguard.host.group_commit import GroupCommitter
from posguard.host.journal import HostJournal
from posguard.host.ledger import Ledger, LedgerWriteError
from posguard.host.seed import default_seed

ACCT = "ACC-ZHANG"


def _ledger(tmp_path: Path) -> tuple[Ledger, GroupCommitter, int]:
    led = Ledger.open(tmp_path / "h.db")
    led.load_seed(default_seed())
    start = led.account(ACCT)
    assert start is not None
    return led, GroupCommitter(led, HostJournal.open(tmp_path / "h.db")), start.balance


async def test_a_decision_failing_before_it_writes_fails_alone(tmp_path: Path) -> None:
    led, worker, start = _ledger(tmp_path)

    def debit() -> None:
        with led.decision():
            led.move(ACCT, balance=-100)

    def broken() -> None:
        with led.decision():
            raise RuntimeError("bug before any write")

    results = await asyncio.gather(
        *(worker.submit(f) for f in (debit, broken, debit)), return_exceptions=True
    )
    await worker.stop()
    assert [type(r).__name__ for r in results] == ["NoneType", "RuntimeError", "NoneType"]
    end = led.account(ACCT)
    assert end is not None
    assert end.balance == start - 200


async def test_a_decision_failing_after_it_wrote_rolls_the_whole_group_back(
    tmp_path: Path,
) -> None:
    led, worker, start = _ledger(tmp_path)
    ref = led.refs.ref(default_seed().cards[0].pan)

    def debit() -> None:
        with led.decision():
            led.move(ACCT, balance=-100)

    def half_written() -> None:
        with led.decision():
            led.move(ACCT, balance=-1_000)
            raise RuntimeError("failed between two writes")

    def read_facts() -> int:
        found = led.card_facts(ref, "2026-11-25")
        assert found is not None
        return found[1].balance

    results = await asyncio.gather(
        *(worker.submit(f) for f in (debit, half_written, debit)), return_exceptions=True
    )
    assert isinstance(results[1], RuntimeError)
    assert all(isinstance(r, LedgerWriteError) for r in (results[0], results[2]))
    end = led.account(ACCT)
    assert end is not None
    assert end.balance == start  # nothing of the group was committed
    # the next group starts clean, and the rows kept in memory were forgotten with the rollback
    assert await worker.submit(debit) is None
    card_acct = led.card_facts(ref, "2026-11-25")
    assert card_acct is not None
    assert await worker.submit(read_facts) == card_acct[1].balance
    await worker.stop()
    after = led.account(ACCT)
    assert after is not None
    assert after.balance == start - 100
