"""`posguard terminal ...` as a user runs it: a real process against the host simulator."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from posguard.cli import app
from posguard.host.seed import SeedData
from posguard.host.testing import running_host
from posguard.terminal.testing import LAB_EXPIRY, LAB_TID, lab_cards, lab_seed, local_config

PAN, _, _, POOR = lab_cards()


async def posguard(*args: str) -> tuple[int, str]:
    """In-process (CliRunner in a worker thread: the command runs its own event loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, app, ["terminal", *args])
    return result.exit_code, result.output


async def posguard_process(*args: str) -> tuple[int, str]:
    """As a user runs it: a separate process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "posguard.cli",
        "terminal",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_cli_sale_decline_journal_settle(tmp_path: Path) -> None:
    async with running_host(SeedData.model_validate(lab_seed())) as (host, port, ledger):
        cfg_file = tmp_path / "terminal.yaml"
        cfg = local_config(port, tmp_path / "journal.db")
        cfg_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")), encoding="utf-8")
        c = ("-c", str(cfg_file))
        rc, out = await posguard_process(
            "sale",
            *c,
            "--pan",
            PAN,
            "--expiry",
            LAB_EXPIRY,
            "--amount",
            "12.34",
            "--json",
            "--lang",
            "en",
        )
        assert rc == 0, out
        sale = json.loads(out.strip().splitlines()[-1])
        assert (sale["outcome"], sale["amount"], sale["rc"]) == ("approved", 1234, "00")
        assert PAN not in out
        rc, out = await posguard(
            "sale", *c, "--pan", POOR, "--expiry", LAB_EXPIRY, "--amount", "50"
        )
        assert rc == 1
        assert "TXN.INSUFFICIENT_FUNDS" in out
        assert "余额不足" in out or "资金" in out or "余额" in out
        rc, out = await posguard("journal", *c)
        assert rc == 0
        assert sale["stan"] in out
        assert PAN not in out
        rc, out = await posguard("settle", *c, "--lang", "en")
        assert rc == 0, out
        assert "balanced" in out
        assert "debits 1/12.34" in out
        rows = await host.call(lambda: ledger.transactions(LAB_TID))
        assert sorted(r.status for r in rows) == ["approved", "declined"]  # type: ignore[attr-defined]
