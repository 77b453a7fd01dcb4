"""Remote command handling: one run per command id, one acknowledgement, restarts handled."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from posguard.common.events import EventKind
from posguard.terminal.agent.commands import Command, CommandDispatcher, CommandName
from posguard.terminal.agent.outbox import Outbox

TID, MID = "T0000001", "898310048990001"


def _results(box: Outbox) -> dict[str, dict[str, Any]]:
    return {
        e.data["command_id"]: e.data for e in box.peek(1000) if e.kind is EventKind.COMMAND_RESULT
    }


async def test_every_command_kind_reaches_its_handler(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", TID, MID)
    seen: list[tuple[str, dict[str, Any]]] = []

    def handler(cmd: Command) -> str:
        seen.append((cmd.command.value, cmd.args))
        return f"{cmd.command.value} done"

    disp = CommandDispatcher(tmp_path / "c.db", dict.fromkeys(CommandName, handler), box.emit)
    for i, name in enumerate(CommandName):
        r = await disp.handle({"command_id": f"c{i}", "command": name.value, "args": {"n": i}})
        assert r.status.value == "ok"
    assert [s[0] for s in seen] == [n.value for n in CommandName]
    assert seen[5][1] == {"n": 5}
    res = _results(box)
    assert len(res) == len(CommandName)
    assert res["c0"]["detail"] == "reboot done"


def test_the_fleet_issues_exactly_the_commands_a_terminal_knows() -> None:
    from posguard.fleet.diagnosis.rules import COMMAND_NAMES

    assert {n.value for n in CommandName} == set(COMMAND_NAMES)


async def test_failures_are_results_with_a_reason(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", TID, MID)

    def settle(cmd: Command) -> str:
        raise RuntimeError("batch upload refused by host, card 6212345678901232")

    async def slow(cmd: Command) -> str:
        await asyncio.sleep(5)
        return "late"

    disp = CommandDispatcher(
        tmp_path / "c.db", {"settle": settle, "update_config": slow}, box.emit, timeout=0.2
    )
    now = datetime.now(UTC)
    await disp.handle(b'{"command_id": "a", "command": "settle"}')
    await disp.handle(b'{"command_id": "b", "command": "rollback"}')
    await disp.handle(b'{"command_id": "c", "command": "update_config"}')
    old = (now - timedelta(minutes=5)).isoformat()
    await disp.handle({"command_id": "d", "command": "reboot", "expires_at": old})
    bad = await disp.handle(b"not json")
    assert bad.command_id is None
    res = _results(box)
    assert res["a"]["status"] == "failed"
    assert "RuntimeError: batch upload refused" in res["a"]["detail"]
    assert "6212345678901232" not in res["a"]["detail"]  # masked before it becomes an event
    assert "not supported" in res["b"]["detail"]
    assert "no result within 0.2 s" in res["c"]["detail"]
    assert "expired" in res["d"]["detail"]


async def test_restart_during_a_command_acknowledges_it(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", TID, MID)
    disp = CommandDispatcher(tmp_path / "c.db", {}, box.emit)
    disp.close()
    # what a crash in the middle of two handlers leaves behind
    with sqlite3.connect(tmp_path / "c.db") as db:
        db.execute(
            "INSERT INTO commands_seen VALUES ('r1', 'reboot', 'running', NULL, '2026-11-25')"
        )
        db.execute(
            "INSERT INTO commands_seen VALUES ('s1', 'settle', 'running', NULL, '2026-11-25')"
        )
    calls: list[str] = []
    disp = CommandDispatcher(tmp_path / "c.db", {"reboot": lambda c: calls.append("x")}, box.emit)
    res = _results(box)
    assert res["r1"]["status"] == "ok"
    assert res["s1"]["status"] == "failed"
    assert "send it again" in res["s1"]["detail"]
    again = await disp.handle({"command_id": "r1", "command": "reboot"})
    assert again.duplicate
    assert calls == []  # a redelivered reboot does not reboot twice
