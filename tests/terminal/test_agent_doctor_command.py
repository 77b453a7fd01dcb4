"""The fleet's `doctor` remote command runs every doctor check on the terminal and answers with
what failed and its catalog code, through the same dispatcher as every other command."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from posguard.common.events import EventKind
from posguard.common.testing import free_port
from posguard.host.testing import running_host, terminal_seed
from posguard.terminal.agent.commands import CommandDispatcher
from posguard.terminal.agent.handlers import command_handlers
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.config import HostEndpoint, TerminalConfig, Timeouts
from posguard.terminal.doctor import CheckReport, DoctorConfig, arun_all

TID = "10000002"


def _doctor(port: int) -> Any:
    seed = terminal_seed(TID)
    cfg = TerminalConfig(
        terminal_id=TID,
        merchant_id=seed.mid,
        merchant_name="Doctor Command Shop",
        journal_path=Path(tempfile.mkdtemp(prefix="doctor-cmd-")) / "journal.db",
        tmk=seed.tmk,
        hosts=[HostEndpoint(name="primary", host="127.0.0.1", port=port)],
        timeouts=Timeouts(dns=1.0, connect=1.0, read=2.0),
    )

    async def run() -> list[CheckReport]:
        return await arun_all(DoctorConfig(terminal=cfg, echo_count=1))

    return run


async def _dispatch(tmp_path: Path, port: int, command_id: str) -> dict[str, Any]:
    box = Outbox(tmp_path / f"{command_id}.db", TID, "898310048990001")
    disp = CommandDispatcher(
        tmp_path / f"{command_id}-cmd.db", command_handlers(doctor=_doctor(port)), box.emit
    )
    await disp.handle({"command_id": command_id, "command": "doctor"})
    results = [e.data for e in box.peek(100) if e.kind is EventKind.COMMAND_RESULT]
    assert len(results) == 1
    return results[0]


async def test_doctor_command_passes_against_a_live_host(tmp_path: Path) -> None:
    async with running_host() as (_host, port, _ledger):
        result = await _dispatch(tmp_path, port, "c-ok")
    assert result["status"] == "ok", result
    assert "0 failed" in result["detail"]


async def test_doctor_command_names_the_failed_check_and_its_code(tmp_path: Path) -> None:
    result = await _dispatch(tmp_path, free_port(), "c-refused")
    assert result["status"] == "failed"
    assert "doctor.tcp_connect" in result["detail"]
    assert "NET.CONNECT_REFUSED" in result["detail"]
