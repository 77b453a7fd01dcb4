"""The rig of the ``update`` command tests (``test_agent_update.py``, ``test_update_signature.py``):
the real fleet app on SQLite with one registered terminal and an admin, and the terminal's side
-- a real two-slot layout running 2.1.0 in slot ``a``, its outbox, command dispatcher, HTTP
publisher and telemetry agent -- talking to the app in process over httpx."""

from __future__ import annotations

import io
import tarfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from posguard.fleet.api.app import create_app
from posguard.fleet.config import FleetSettings
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.db.models import Command as CommandRow
from posguard.fleet.repo.commands import issue_command
from posguard.fleet.repo.terminals import add_terminal, get_terminal
from posguard.fleet.repo.users import Role, create_user
from posguard.fleet.testing import cheap_password_hashing
from posguard.terminal.agent.commands import CommandDispatcher
from posguard.terminal.agent.handlers import command_handlers
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.agent.package_fetch import PackageFetcher
from posguard.terminal.agent.publish import HttpPublisher
from posguard.terminal.agent.runner import TelemetryAgent
from posguard.terminal.update import SlotUpdater

__all__ = ["MID", "NOW", "TID", "UpdateRig", "package_bytes", "update_rig"]

TID, MID = "T0000001", "898310048990001"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def package_bytes(version: str, *, healthy: bool = True) -> bytes:
    """A firmware package (``.tar.gz``): ``VERSION`` and a ``healthcheck`` that passes when
    ``VERSION`` is there, or fails (exit 3) when not ``healthy``."""
    buf = io.BytesIO()
    check = "#!/bin/sh\ntest -f VERSION\n" if healthy else "#!/bin/sh\necho broken >&2\nexit 3\n"
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text, mode in (("VERSION", version + "\n", 0o644), ("healthcheck", check, 0o755)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class UpdateRig:
    tmp: Path
    client: httpx.AsyncClient
    sessions: sessionmaker[Session]
    admin: dict[str, str]
    root: Path
    updater: SlotUpdater
    disp: CommandDispatcher
    pub: HttpPublisher
    agent: TelemetryAgent
    restarts: list[int]

    async def upload(
        self, body: bytes, version: str, *, name: str = "fw.tar.gz", signature: str | None = None
    ) -> httpx.Response:
        """The admin uploads a package for model PX-5 (with its signature when given)."""
        data = {"version": version, "models": "PX-5"}
        if signature is not None:
            data["signature"] = signature
        return await self.client.post(
            "/api/v1/packages",
            files={"file": (name, body, "application/gzip")},
            data=data,
            headers=self.admin,
        )

    async def send_update(self, args: dict[str, Any]) -> CommandRow:
        """Issue ``update`` with ``args``; the terminal takes it, runs it and answers (any fault
        goes up with the answer). Returns the command row as the fleet then has it."""
        with self.sessions.begin() as s:
            terminal = get_terminal(s, terminal_id=TID)
            assert terminal is not None
            cmd_id = issue_command(
                s,
                terminal=terminal,
                name="update",
                args=args,
                issued_by="user:admin",
                now=datetime.now(UTC),
            ).id
        assert await self.pub.poll_commands() == 1
        await self.agent.drain_once()
        with self.sessions() as s:
            row = s.get(CommandRow, cmd_id)
            assert row is not None
            s.expunge(row)
            return row


@asynccontextmanager
async def update_rig(
    tmp_path: Path,
    *,
    fetcher: type[PackageFetcher] = PackageFetcher,
    trusted_keys: Sequence[str] = (),
    reboots: bool = True,
) -> AsyncIterator[UpdateRig]:
    """The rig in ``tmp_path``. ``fetcher`` downloads packages (its subclass
    ``SignedPackageFetcher`` the signature too); ``trusted_keys`` are the updater's (the terminal
    config's ``update_public_keys``); with ``reboots`` a successful update asks for a restart,
    counted in ``restarts``, else no restart handler is given."""
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with cheap_password_hashing(), sessions.begin() as s:
        _, cred = add_terminal(
            s,
            terminal_id=TID,
            merchant_id=MID,
            model="PX-5",
            brand="Acme",
            firmware="2.1.0",
            acquirer_host="acq-east",
            area="pudong",
            now=NOW,
        )
        create_user(
            s,
            username="admin",
            password="admin-password",
            role=Role.ADMIN,
            merchant_id=None,
            now=NOW,
        )
        token = cred.token
    app = create_app(
        FleetSettings(
            database_url=url,
            jwt_secret="s" * 40,
            diagnosis_in_process=False,
            package_dir=tmp_path / "fleet-packages",
        )
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fleet")
    r = await client.post(
        "/api/v1/auth/token", data={"username": "admin", "password": "admin-password"}
    )
    admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
    # the terminal: version 2.1.0 in slot a, as the factory installed it
    root = tmp_path / "opt"
    updater = SlotUpdater(root, trusted_keys=trusted_keys)
    (root / "slots" / "a" / "VERSION").write_text("2.1.0\n")
    box = Outbox(tmp_path / "outbox.db", TID, MID)
    updater._emit_hook = box.emit
    restarts: list[int] = []
    fetch = fetcher("http://fleet", token, tmp_path / "dl", client=client)
    handlers = command_handlers(
        updater=updater,
        fetch_package=fetch.fetch,
        reboot=(lambda: restarts.append(1)) if reboots else None,
        reboot_delay=0.0,
    )
    disp = CommandDispatcher(tmp_path / "cmd.db", handlers, box.emit)
    pub = HttpPublisher(
        "http://fleet", token, terminal_id=TID, on_command=disp.handle, client=client
    )
    agent = TelemetryAgent(box, pub, heartbeat_interval=None)
    try:
        yield UpdateRig(
            tmp_path, client, sessions, admin, root, updater, disp, pub, agent, restarts
        )
    finally:
        await client.aclose()
        disp.close()
        engine.dispose()
