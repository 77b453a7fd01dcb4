"""The agent against the real fleet API (in process, real SQLite store): events are stored once,
a resend is a duplicate, a command issued in the fleet is picked up, run and completed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from posguard.common.events import EventKind
from posguard.fleet.api.app import create_app
from posguard.fleet.config import FleetSettings
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.db.models import Command as CommandRow
from posguard.fleet.db.models import EventRow, TerminalLiveness
from posguard.fleet.repo.commands import issue_command
from posguard.fleet.repo.terminals import add_terminal, get_terminal
from posguard.terminal.agent.commands import CommandDispatcher
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.agent.publish import HttpPublisher
from posguard.terminal.agent.runner import TelemetryAgent

TID, MID = "T0000001", "898310048990001"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


async def test_agent_and_fleet_speak_the_same_protocol(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        _, cred = add_terminal(
            s,
            terminal_id=TID,
            merchant_id=MID,
            model="PX-5",
            brand="Acme",
            firmware="0.1.0",
            acquirer_host="acq-east",
            area="pudong",
            now=NOW,
        )
        token = cred.token
    app = create_app(
        FleetSettings(database_url=url, jwt_secret="s" * 40, diagnosis_in_process=False)
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fleet")
    box = Outbox(tmp_path / "outbox.db", TID, MID)
    ran: list[dict[str, Any]] = []

    def reprint(cmd: Any) -> str:
        ran.append(cmd.args)
        return "reprint queued as job 3"

    disp = CommandDispatcher(tmp_path / "cmd.db", {"reprint": reprint}, box.emit)
    pub = HttpPublisher(
        "http://fleet", token, terminal_id=TID, on_command=disp.handle, client=client
    )
    agent = TelemetryAgent(box, pub, heartbeat_interval=None)

    box.emit(EventKind.FAULT, "PRN.PAPER_OUT", state="paper_out", pending_jobs=1)
    box.emit(EventKind.TRANSACTION, type="sale", outcome="approved", rc="00", amount=1234)
    agent.emit_heartbeat()
    sent = box.peek()
    assert await agent.drain_once() == 3
    await pub.publish(sent)  # a resend (ack lost in a crash): stored once
    with sessions() as s:  # the heartbeat is the terminal's liveness row, not an events row
        assert s.scalar(select(func.count()).select_from(EventRow)) == 2
        assert s.get(TerminalLiveness, TID) is not None

    with sessions.begin() as s:
        terminal = get_terminal(s, terminal_id=TID)
        assert terminal is not None
        cmd = issue_command(
            s,
            terminal=terminal,
            name="reprint",
            args={"copy": "cardholder"},
            issued_by="user:ops",
            now=datetime.now(UTC),  # commands expire (15 min): the pickup runs on the real clock
        )
        command_id = cmd.id
    assert await pub.poll_commands() == 1
    assert ran == [{"copy": "cardholder"}]
    assert await agent.drain_once() == 1  # the command_result goes up
    await pub.close()
    with sessions() as s:
        row = s.get(CommandRow, command_id)
        assert row is not None
        assert row.status == "succeeded"
        assert row.result == {"status": "ok", "detail": "reprint queued as job 3"}
        assert s.scalar(select(func.count()).select_from(EventRow)) == 3
    engine.dispose()
