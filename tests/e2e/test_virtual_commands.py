"""The demo's virtual terminals answer remote commands like a real terminal (issue #15): a
command issued in the fleet is picked up, run by the terminal runtime's own handlers and
acknowledged, so the dashboard shows its result instead of "Pending" forever."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from posguard.fleet.db.models import Command
from posguard.fleet.repo import commands as command_repo
from posguard.fleet.repo.terminals import get_terminal
from posguard.host.proxy import FaultProxy
from posguard.host.server import HostConfig, HostServer
from posguard.sim.cardbook import CardBook, host_seed
from posguard.sim.fleet_embed import EmbeddedFleet
from posguard.sim.population import build_estate
from posguard.sim.stats import DemoStats
from posguard.sim.virtual import Pace, VirtualTerminal


async def test_a_virtual_terminal_answers_each_remote_command(tmp_path: Path) -> None:
    estate = build_estate(terminals=1, seed=5)
    book = CardBook.default()
    host = HostServer(HostConfig(db=str(tmp_path / "host.db")), seed=host_seed(estate, book))
    await host.start()
    backup = FaultProxy(("127.0.0.1", host.port))
    await backup.start()
    fleet = EmbeddedFleet(tmp_path / "fleet.db", heartbeat_s=10)
    fleet.prepare(estate)
    await fleet.start()
    spec = estate.terminals[0]
    vt = VirtualTerminal(
        spec,
        next(m for m in estate.merchants if m.merchant_id == spec.merchant_id),
        tmp_path / "t",
        upstream=("127.0.0.1", host.port),
        backup_port=backup.port,
        fleet_url=fleet.base_url,
        token=fleet.tokens[spec.terminal_id],
        stats=DemoStats(),
        book=book,
        pace=Pace(heartbeat_s=2.0, command_poll_s=0.3),
        seed=1,
    )
    await vt.start()
    try:
        assert fleet.context is not None
        sessions = fleet.context.sessions
        ids: dict[str, str] = {}
        with sessions.begin() as s:
            terminal = get_terminal(s, terminal_id=spec.terminal_id)
            assert terminal is not None
            for name in ("re_sign_on", "reprint", "reboot"):
                cmd = command_repo.issue_command(
                    s,
                    terminal=terminal,
                    name=name,
                    args={},
                    issued_by="test",
                    now=datetime.now(UTC),
                )
                ids[name] = cmd.id
        done: dict[str, Command] = {}
        for _ in range(150):
            with sessions() as s:
                done = {n: c for n, i in ids.items() if (c := s.get(Command, i)) is not None}
            if all(c.status in ("succeeded", "failed") for c in done.values()):
                break
            await asyncio.sleep(0.1)
        status = {n: (c.status, (c.result or {}).get("detail")) for n, c in done.items()}
        assert status["re_sign_on"][0] == "succeeded", status
        assert "signed on" in str(status["re_sign_on"][1])
        # nothing printed yet: the terminal says so, which is an answer, not "pending"
        assert status["reprint"][0] == "failed", status
        assert status["reboot"][0] == "succeeded", status
        assert all(c.expires_at is not None for c in done.values())
    finally:
        await vt.close()
        await fleet.stop()
        await backup.stop()
        await host.stop()
