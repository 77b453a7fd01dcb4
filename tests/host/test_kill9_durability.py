"""kill -9 of the host in the middle of pipelined sales: every sale the host answered ``00`` is
in the ledger after the crash, and the ledger's books agree with themselves (the account moved
by exactly the approved rows). This is the group commit's promise: an answer leaves only after
the COMMIT (fsync, ``synchronous=FULL``) of the decision it reports."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from posguard.common.testing import line_containing
from posguard.host.ledger import Ledger
from posguard.host.seed import default_seed, dump_seed, with_terminals
from posguard.host.testing import HostClient

from .conftest import Cards
from .test_shutdown import _pipeline

TERMINALS = 8


async def test_kill9_loses_no_answered_sale(tmp_path: Path, cards: Cards) -> None:
    seed = with_terminals(default_seed(), TERMINALS)
    acct = seed.cards[0].account  # funded so that every sale is approved
    seed = seed.model_copy(
        update={
            "accounts": [
                a.model_copy(update={"balance": 10**9, "daily_limit": 10**9}) if a.id == acct else a
                for a in seed.accounts
            ]
        }
    )
    seed_file = tmp_path / "seed.yaml"
    seed_file.write_text(dump_seed(seed), encoding="utf-8")
    db = tmp_path / "h.db"
    before = Ledger.open(db)
    before.load_seed(seed)
    start = before.balance_of_card(cards.good)
    before.close()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "posguard.cli", "host", "serve", "--port", "0",
        "--db", str(db), "--sync", "FULL",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = await line_containing(proc.stdout, "host listening on", 30)
        port = int(line.split()[3].rsplit(":", 1)[1])
        clients = [
            HostClient(port, tid=f"5{i:07d}", seed=seed, timeout=15) for i in range(TERMINALS)
        ]
        for c in clients:
            await c.connect()
            assert (await c.sign_on())["39"] == "00"
        events = [asyncio.Event() for _ in clients]
        runs = [
            asyncio.create_task(_pipeline(c, cards.good, e))
            for c, e in zip(clients, events, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 30)
        proc.kill()  # SIGKILL: no flush, no checkpoint, no goodbye
        answered = await asyncio.wait_for(asyncio.gather(*runs), 30)
        await proc.wait()
        for c in clients:
            await c.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    led = Ledger.open(db)
    try:
        rows = led.transactions()
        approved = {(t.tid, t.stan) for t in rows if t.status == "approved"}
        for c, answers in zip(clients, answered, strict=True):
            assert answers, c.tid
            for stan, rc in answers:
                assert rc == "00", (c.tid, stan, rc)
                assert (c.tid, stan) in approved, f"{c.tid} STAN {stan} answered, not booked"
        total = sum(t.amount for t in rows if t.status == "approved" and t.kind == "sale")
        assert led.balance_of_card(cards.good) == start - total
        print(f"{sum(map(len, answered))} answered, {len(approved)} booked at kill -9")
    finally:
        led.close()
