"""kill -9 of the host in the middle of pipelined sales: every sale the host answered ``00`` is
in the ledger after the crash, and the ledger's books agree with themselves (the account moved
by exactly the approved rows). This is the group commit's promise: an answer leaves only after
the COMMIT (fsync, ``synchronous=FULL``) of the decision it reports."""

from __future__ import annotations

from pathlib import Path

from posguard.host.ledger import Ledger
from posguard.host.seed import default_seed, dump_seed, with_terminals

from .conftest import Cards, SpawnHost

TERMINALS = 8


async def test_kill9_loses_no_answered_sale(
    tmp_path: Path, cards: Cards, spawn_host: SpawnHost
) -> None:
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
    host = await spawn_host("--db", str(db), "--sync", "FULL")
    await host.pipeline_sales(seed, TERMINALS, cards.good)
    host.proc.kill()  # SIGKILL: no flush, no checkpoint, no goodbye
    answered = await host.answers()
    await host.proc.wait()
    led = Ledger.open(db)
    try:
        rows = led.transactions()
        approved = {(t.tid, t.stan) for t in rows if t.status == "approved"}
        for c, answers in zip(host.clients, answered, strict=True):
            assert answers, c.tid
            for stan, rc in answers:
                assert rc == "00", (c.tid, stan, rc)
                assert (c.tid, stan) in approved, f"{c.tid} STAN {stan} answered, not booked"
        total = sum(t.amount for t in rows if t.status == "approved" and t.kind == "sale")
        assert led.balance_of_card(cards.good) == start - total
        print(f"{sum(map(len, answered))} answered, {len(approved)} booked at kill -9")
    finally:
        led.close()
