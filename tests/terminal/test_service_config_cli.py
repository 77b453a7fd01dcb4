"""One config format for the service and the transaction commands: ``posguard terminal sale``
takes the service's YAML, and refuses in one line to run beside the service on its journal."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from posguard.cli import app
from posguard.host.seed import SeedData
from posguard.host.testing import running_host
from posguard.terminal.runtime_lock import RuntimeLock
from posguard.terminal.testing import LAB_EXPIRY, lab_cards, lab_seed, local_config

PAN = lab_cards()[0]


async def sale(conf: Path) -> tuple[int, str]:
    args = ["terminal", "sale", "-c", str(conf), "--pan", PAN, "--expiry", LAB_EXPIRY]
    argv = [*args, "--amount", "1.00", "--json", "--lang", "en"]
    result = await asyncio.to_thread(CliRunner().invoke, app, argv)
    return result.exit_code, result.output


async def test_sale_takes_the_service_yaml_and_its_runtime_lock(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with running_host(SeedData.model_validate(lab_seed())) as (_host, port, _ledger):
        conf = tmp_path / "terminal.yaml"
        conf.write_text(
            yaml.safe_dump(
                {
                    **local_config(port, data / "journal.db").model_dump(mode="json"),
                    "printer": {"kind": "file", "path": str(tmp_path / "paper.bin")},
                    "agent": {"transport": "none"},
                    "service": {"data_dir": str(data), "catch_up_s": 5},
                }
            )
        )
        rc, out = await sale(conf)
        assert rc == 0, out
        assert json.loads(out)["outcome"] == "approved"
        with RuntimeLock(data, wait=0):  # the service runs on this journal
            rc, out = await sale(conf)
        assert rc == 5  # ExitCode.UNAVAILABLE: the journal is in use, nothing is wrong with it
        assert out.startswith("error: another terminal runtime (pid ")
        assert len(out.strip().splitlines()) == 1
