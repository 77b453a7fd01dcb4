"""`posguard host exceptions resolve ID --reason ...`: an exception found by batch upload over
real sockets is closed with who, when and why; the money is not touched; unknown and
already-resolved ids are refused with one line and change nothing; the listing (`--json`) keeps
its fields and shows the resolution."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from posguard.host.cli import app
from posguard.host.ledger import Ledger
from posguard.host.testing import HostClient, running_host

from .conftest import Cards

LISTED = {
    "id", "tid", "batch", "stan", "kind", "state", "txn_kind", "host_txn_id", "host_amount",
    "terminal_amount", "pan_masked", "found_at", "resolved_by", "resolved_at", "resolution",
}  # fmt: skip


async def _two_exceptions(db: Path, pan: str) -> None:
    async with running_host(db=str(db)) as (_host, port, _led), HostClient(port) as c:
        await c.sign_on()
        assert (await c.sale(pan, 1_000))["39"] == "00"
        never_sent = c.sale_msg(pan, 250)
        assert (await c.settle(1, 250))["39"] == "95"
        await c.upload(never_sent)
        assert (await c.end_upload())["39"] == "00"


def _listed(runner: CliRunner, db: Path) -> list[dict[str, object]]:
    out = runner.invoke(app, ["exceptions", "--db", str(db), "--json"])
    assert out.exit_code == 0, out.output
    rows: list[dict[str, object]] = json.loads(out.output)
    return rows


async def test_resolve_records_who_when_why_and_refuses_twice(tmp_path: Path, cards: Cards) -> None:
    db = tmp_path / "h.db"
    await _two_exceptions(db, cards.good)
    before = Ledger.open(db)
    balance = before.balance_of_card(cards.good)
    before.close()
    runner = CliRunner()
    rows = _listed(runner, db)
    assert [set(r) for r in rows] == [LISTED, LISTED]
    assert [r["state"] for r in rows] == ["open", "open"]
    target = next(r for r in rows if r["kind"] == "missing_on_host")

    done = runner.invoke(
        app,
        ["exceptions", "resolve", str(target["id"]), "--db", str(db),
         "--reason", "offline sale refused by the merchant", "--by", "ops-li"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"exception {target['id']} resolved" in done.output
    after = {r["id"]: r for r in _listed(runner, db)}
    got = after[target["id"]]
    assert (got["state"], got["resolved_by"], got["resolution"]) == (
        "resolved",
        "ops-li",
        "offline sale refused by the merchant",
    )
    assert isinstance(got["resolved_at"], str)
    assert got["resolved_at"].endswith("+00:00")
    other = next(r for r in after.values() if r["id"] != target["id"])
    assert (other["state"], other["resolved_by"]) == ("open", None)
    only_open = json.loads(
        runner.invoke(app, ["exceptions", "--db", str(db), "--json", "--state", "open"]).output
    )
    assert [r["id"] for r in only_open] == [other["id"]]
    table = runner.invoke(app, ["exceptions", "--db", str(db)]).output
    assert "resolved by ops-li" in table

    again = runner.invoke(
        app, ["exceptions", "resolve", str(target["id"]), "--db", str(db), "--reason", "x"]
    )
    assert again.exit_code == 2
    assert again.output.strip().count("\n") == 0
    assert "already resolved" in again.output
    assert "ops-li" in again.output
    unknown = runner.invoke(app, ["exceptions", "resolve", "999", "--db", str(db), "--reason", "x"])
    assert unknown.exit_code == 2
    assert "no reconciliation exception 999" in unknown.output
    assert unknown.output.strip().count("\n") == 0
    blank = runner.invoke(
        app, ["exceptions", "resolve", str(other["id"]), "--db", str(db), "--reason", " "]
    )
    assert blank.exit_code == 2
    assert {r["id"]: r for r in _listed(runner, db)} == after  # refusals changed nothing
    led = Ledger.open(db)
    assert led.balance_of_card(cards.good) == balance  # resolving never moves money
    led.close()


def test_a_ledger_from_before_resolution_gets_the_columns(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    Ledger.open(db).close()
    conn = sqlite3.connect(db)
    for col in ("resolved_by", "resolved_at", "resolution"):
        conn.execute(f"ALTER TABLE recon_exceptions DROP COLUMN {col}")
    conn.commit()
    conn.close()
    led = Ledger.open(db)
    assert led.exceptions() == []
    led.close()
    cols = {r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(recon_exceptions)")}
    assert {"resolved_by", "resolved_at", "resolution"} <= cols
