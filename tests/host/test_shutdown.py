"""SIGTERM stops the host the way an operator expects: no new connections, every request already
read is decided and answered, the journal holds every answered request, the write-ahead log is
checkpointed, exit status 0 and one line saying so. Also ``posguard host exceptions`` over a
real database, and a ledger from before keyed hashes is migrated without leaving a clear PAN.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posguard.common.errors import ConfigError
from posguard.host.cli import app
from posguard.host.journal import HostJournal
from posguard.host.ledger import Ledger
from posguard.host.seed import default_seed, dump_seed, with_terminals
from posguard.host.testing import HostClient, running_host

from .conftest import PER_TERMINAL, Cards, SpawnHost

TERMINALS = 4


async def test_sigterm_answers_in_flight_flushes_journal_and_checkpoints(
    tmp_path: Path, cards: Cards, spawn_host: SpawnHost
) -> None:
    seed = with_terminals(default_seed(), TERMINALS)
    seed_file = tmp_path / "seed.yaml"
    seed_file.write_text(dump_seed(seed), encoding="utf-8")
    db = tmp_path / "h.db"
    host = await spawn_host("--db", str(db), "--seed", str(seed_file))
    await host.pipeline_sales(seed, TERMINALS, cards.good)
    host.proc.send_signal(signal.SIGTERM)  # well inside the journal's 0.25 s flush interval
    answered = await host.answers()
    assert host.proc.stdout is not None
    out = (await asyncio.wait_for(host.proc.stdout.read(), 30)).decode()
    assert await asyncio.wait_for(host.proc.wait(), 30) == 0, out
    stop_lines = [ln for ln in out.splitlines() if ln.startswith("host stopped:")]
    assert len(stop_lines) == 1, out
    assert "journal flushed" in stop_lines[0]
    print(stop_lines[0], [len(a) for a in answered])
    assert not Path(str(db) + "-wal").exists() or Path(str(db) + "-wal").stat().st_size == 0
    journal = HostJournal.open(db)
    try:
        conn = sqlite3.connect(db)
        for c, answers in zip(host.clients, answered, strict=True):
            assert answers, c.tid
            assert len(answers) <= PER_TERMINAL
            entries = {(e.stan, e.rc) for e in journal.query(tid=c.tid, mti="0200")}
            for stan, rc in answers:
                assert (stan, rc) in entries, (c.tid, stan)
            approved = {s for s, rc in answers if rc == "00"}
            rows = conn.execute(
                "SELECT stan FROM transactions WHERE tid=? AND status='approved'", (c.tid,)
            ).fetchall()
            assert approved <= {r[0] for r in rows}
        conn.close()
    finally:
        journal.close()


async def test_host_exceptions_cli_lists_the_differences(tmp_path: Path, cards: Cards) -> None:
    db = tmp_path / "h.db"
    async with running_host(db=str(db)) as (_host, port, _led), HostClient(port) as c:
        await c.sign_on()
        sale = c.sale_msg(cards.good, 1_000)
        assert (await c.request(sale))["39"] == "00"
        never_sent = c.sale_msg(cards.good, 250)
        assert (await c.settle(1, 250))["39"] == "95"
        await c.upload(never_sent)
        assert (await c.end_upload())["39"] == "00"
    runner = CliRunner()
    table = runner.invoke(app, ["exceptions", "--db", str(db)])
    assert table.exit_code == 0, table.output
    assert "missing_on_terminal" in table.output
    assert "missing_on_host" in table.output
    assert cards.good not in table.output
    as_json = runner.invoke(app, ["exceptions", "--db", str(db), "--json"])
    rows = json.loads(as_json.output)
    assert sorted((r["kind"], r["stan"], r["state"]) for r in rows) == [
        ("missing_on_host", str(never_sent["11"]), "open"),
        ("missing_on_terminal", str(sale["11"]), "open"),
    ]
    assert [r["pan_masked"] for r in rows] == ["621483*********0015"] * 2
    only = runner.invoke(app, ["exceptions", "--db", str(db), "--tid", "10000002"])
    assert "no reconciliation exceptions" in only.output
    missing = runner.invoke(app, ["exceptions", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 2


def test_a_ledger_with_clear_pans_is_migrated_to_keyed_hashes(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    pan = default_seed().cards[0].pan
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        PRAGMA journal_mode=WAL;
        CREATE TABLE accounts (id TEXT PRIMARY KEY, holder TEXT NOT NULL DEFAULT '',
            balance INTEGER NOT NULL, held INTEGER NOT NULL DEFAULT 0,
            daily_limit INTEGER NOT NULL, txn_limit INTEGER NOT NULL);
        CREATE TABLE cards (pan TEXT PRIMARY KEY, pan_masked TEXT NOT NULL,
            account_id TEXT NOT NULL REFERENCES accounts(id), expiry TEXT NOT NULL,
            pin_salt BLOB NOT NULL, pin_hash BLOB NOT NULL, status TEXT NOT NULL,
            pin_tries INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE transactions (id INTEGER PRIMARY KEY, tid TEXT NOT NULL, mid TEXT NOT NULL,
            stan TEXT NOT NULL, batch TEXT NOT NULL, txn_date TEXT NOT NULL,
            host_day TEXT NOT NULL, kind TEXT NOT NULL, account_id TEXT,
            pan_masked TEXT NOT NULL DEFAULT '', amount INTEGER NOT NULL, rrn TEXT NOT NULL,
            auth_code TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, rc TEXT NOT NULL,
            orig_id INTEGER REFERENCES transactions(id), refunded INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL DEFAULT 'online',
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            UNIQUE (tid, stan, txn_date));
        CREATE TABLE batch_uploads (tid TEXT NOT NULL, batch TEXT NOT NULL, stan TEXT NOT NULL,
            kind TEXT NOT NULL, amount INTEGER NOT NULL, account_id TEXT,
            pan_masked TEXT NOT NULL DEFAULT '', PRIMARY KEY (tid, batch, stan));
        INSERT INTO accounts VALUES ('ACC-ZHANG', 'Zhang Wei', 4999000, 0, 2000000, 1000000);
        """
    )
    conn.execute(
        "INSERT INTO cards VALUES (?, '621483*********0015', 'ACC-ZHANG', '3012', ?, ?,"
        " 'active', 0)",
        (pan, b"s" * 16, b"h" * 32),
    )
    conn.execute(
        "INSERT INTO transactions (tid, mid, stan, batch, txn_date, host_day, kind, account_id,"
        " pan_masked, amount, rrn, status, rc) VALUES ('10000001', 'M', '000001', '000001',"
        " '1201', '2026-12-01', 'sale', 'ACC-ZHANG', '621483*********0015', 1000,"
        " '000000000001', 'approved', '00')"
    )
    conn.commit()
    conn.close()
    led = Ledger.open(db)
    card = led.card(pan)
    assert card is not None
    assert card.account_id == "ACC-ZHANG"
    assert [t.stan for t in led.transactions()] == ["000001"]
    led.checkpoint()
    led.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("old.db*") if p.suffix != ".pankey")
    assert pan.encode() not in stored


def test_a_ledger_whose_key_file_is_lost_refuses_to_start(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    led = Ledger.open(db)
    led.load_seed(default_seed())
    led.close()
    (tmp_path / "h.db.pankey").unlink()
    with pytest.raises(ConfigError, match="PAN hash key file is missing"):
        Ledger.open(db)
    assert not (tmp_path / "h.db.pankey").exists()
