"""Group commit on the event loop, and the host over TLS."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from posguard.common.errors import FrameError
from posguard.common.testing import write_self_signed_cert
from posguard.host.group_commit import GroupCommitter
from posguard.host.journal import HostJournal
from posguard.host.ledger import Ledger
from posguard.host.seed import default_seed
from posguard.host.server import tls_context
from posguard.host.testing import HostClient, running_host

from .conftest import Cards


async def test_group_commit_isolates_a_failing_decision(tmp_path: Path) -> None:
    led = Ledger.open(tmp_path / "h.db")
    led.load_seed(default_seed())
    worker = GroupCommitter(led, HostJournal.open(tmp_path / "h.db"))
    acct = "ACC-ZHANG"
    start = led.account(acct)
    assert start is not None

    def debit() -> None:
        with led.atomic():
            led.move(acct, balance=-100)

    def broken() -> None:
        with led.atomic():
            led.move(acct, balance=-1_000_000)
            raise RuntimeError("bug in one decision")

    results = await asyncio.gather(
        *(worker.submit(f) for f in (debit, broken, debit, debit)), return_exceptions=True
    )
    await worker.stop()
    assert [isinstance(r, RuntimeError) for r in results] == [False, True, False, False]
    end = led.account(acct)
    assert end is not None
    assert end.balance == start.balance - 300
    assert worker.items == 4


async def test_tls_host(tmp_path: Path, cards: Cards) -> None:
    cert, key = write_self_signed_cert(tmp_path)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    client_ctx.check_hostname = False
    async with running_host(tls=tls_context(cert, key)) as (_h, port, ledger):
        before = ledger.balance_of_card(cards.good)
        async with HostClient(port, ssl=client_ctx) as c:
            assert (await c.sign_on())["39"] == "00"
            assert (await c.sale(cards.good, 250))["39"] == "00"
        assert ledger.balance_of_card(cards.good) == before - 250
        with pytest.raises((FrameError, ConnectionError)):  # plain TCP: closed by the host
            async with HostClient(port, timeout=1) as plain:
                await plain.sign_on()


async def test_group_commit_settles_no_caller_before_the_commit(tmp_path: Path) -> None:
    """While a group is open its decisions are invisible to another connection and none of its
    callers has an answer; after the one COMMIT all are visible and all are answered."""
    import sqlite3

    led = Ledger.open(tmp_path / "h.db")
    led.load_seed(default_seed())
    committer = GroupCommitter(led, HostJournal.open(tmp_path / "h.db"))
    acct = "ACC-ZHANG"
    start = led.account(acct)
    assert start is not None
    other = sqlite3.connect(tmp_path / "h.db")
    seen: list[tuple[int, bool]] = []
    futures: list[asyncio.Task[object]] = []

    def outside_balance() -> int:
        return int(other.execute("SELECT balance FROM accounts WHERE id=?", (acct,)).fetchone()[0])

    def debit() -> int:
        with led.atomic():
            led.move(acct, balance=-100)
        seen.append((outside_balance(), any(f.done() for f in futures)))
        return 1

    futures.extend(asyncio.create_task(committer.submit(debit)) for _ in range(3))
    assert await asyncio.gather(*futures) == [1, 1, 1]
    assert seen == [(start.balance, False)] * 3
    assert outside_balance() == start.balance - 300
    assert committer.groups == 1
    assert committer.syncs == 1  # FULL: the WAL's fsync, on the committer's thread
    await committer.stop()
    other.close()


async def test_group_commit_answers_only_after_the_wal_fsync(tmp_path: Path) -> None:
    """Under FULL the COMMIT does not wait for the disk, the committer's fsync does: while that
    fsync has not returned, no caller of the group has its answer (the next group is decided
    meanwhile); when it returns, all do."""
    import threading

    led = Ledger.open(tmp_path / "h.db", synchronous="FULL")
    led.load_seed(default_seed())
    committer = GroupCommitter(led, HostJournal.open(tmp_path / "h.db"))
    release = threading.Event()
    real_sync = led.sync_wal
    synced: list[int] = []

    def slow_sync() -> None:
        release.wait(10)
        real_sync()
        synced.append(len(synced))

    led.sync_wal = slow_sync  # type: ignore[method-assign]

    def debit() -> str:
        with led.atomic():
            led.move("ACC-ZHANG", balance=-1)
        return "done"

    first = [asyncio.create_task(committer.submit(debit)) for _ in range(3)]
    await asyncio.sleep(0.2)
    second = asyncio.create_task(committer.submit(debit))  # a later group, decided meanwhile
    await asyncio.sleep(0.2)
    assert committer.groups == 2
    assert not any(t.done() for t in (*first, second)), "answered before the fsync returned"
    release.set()
    assert await asyncio.gather(*first, second) == ["done"] * 4
    assert synced == [0, 1]  # the second group waited for an fsync that started after it
    await committer.stop()


async def test_group_commit_gathers_the_requests_of_its_next_loop_turns(tmp_path: Path) -> None:
    """A group stays open for ``commit_turns`` turns of the loop: a request that arrives one turn
    after the first joins its group (one COMMIT, one fsync); one that arrives after the group
    committed opens the next; none is answered before its group is durable."""
    led = Ledger.open(tmp_path / "h.db", synchronous="FULL")
    led.load_seed(default_seed())
    committer = GroupCommitter(led, HostJournal.open(tmp_path / "h.db"), commit_turns=3)

    def debit() -> str:
        with led.atomic():
            led.move("ACC-ZHANG", balance=-1)
        return "done"

    first = asyncio.create_task(committer.submit(debit))
    await asyncio.sleep(0)  # the task runs: the group opens
    await asyncio.sleep(0)  # one turn later
    joined = asyncio.create_task(committer.submit(debit))
    assert list(await asyncio.gather(first, joined)) == ["done", "done"]
    assert (committer.groups, committer.items, committer.syncs) == (1, 2, 1)
    assert await committer.submit(debit) == "done"  # after the commit: a group of its own
    assert (committer.groups, committer.items) == (2, 3)
    await committer.stop()
