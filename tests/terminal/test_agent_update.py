"""The ``update`` command end to end: an admin uploads a real package to the real fleet app
(SQLite), the fleet issues ``update``, the terminal agent picks it up over HTTP, downloads the
package with its own credential, checks size and SHA-256, installs it into a real two-slot
layout (the package's own ``healthcheck`` runs as a process in the new slot) and answers the
command; a bad package or a tampered checksum leaves the running version where it was and
answers ``failed`` with ``SW.UPDATE_FAILED <stage>``."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from posguard.fleet.api.app import create_app
from posguard.fleet.config import FleetSettings
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.db.models import Command as CommandRow
from posguard.fleet.db.models import EventRow
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

TID, MID = "T0000001", "898310048990001"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def make_package(version: str, *, healthy: bool = True) -> bytes:
    buf = io.BytesIO()
    check = "#!/bin/sh\ntest -f VERSION\n" if healthy else "#!/bin/sh\necho broken >&2\nexit 3\n"
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text, mode in (("VERSION", version + "\n", 0o644), ("healthcheck", check, 0o755)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def detail(row: CommandRow) -> str:
    assert row.result is not None
    return str(row.result["detail"])


@dataclass
class Rig:
    client: httpx.AsyncClient
    sessions: sessionmaker[Session]
    admin: dict[str, str]
    root: Path
    updater: SlotUpdater
    disp: CommandDispatcher
    pub: HttpPublisher
    agent: TelemetryAgent
    restarts: list[int]

    async def upload(self, body: bytes, version: str) -> dict[str, Any]:
        r = await self.client.post(
            "/api/v1/packages",
            files={"file": ("fw.tar.gz", body, "application/gzip")},
            data={"version": version, "models": "PX-5"},
            headers=self.admin,
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def send_update(self, args: dict[str, Any]) -> CommandRow:
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
        await self.agent.drain_once()  # the answer (and any fault) goes up
        with self.sessions() as s:
            row = s.get(CommandRow, cmd_id)
            assert row is not None
            s.expunge(row)
            return row


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
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
    updater = SlotUpdater(root)
    (root / "slots" / "a" / "VERSION").write_text("2.1.0\n")
    box = Outbox(tmp_path / "outbox.db", TID, MID)
    updater._emit_hook = box.emit
    restarts: list[int] = []
    fetcher = PackageFetcher("http://fleet", token, tmp_path / "dl", client=client)
    handlers = command_handlers(
        updater=updater,
        fetch_package=fetcher.fetch,
        reboot=lambda: restarts.append(1),
        reboot_delay=0.0,
    )
    disp = CommandDispatcher(tmp_path / "cmd.db", handlers, box.emit)
    pub = HttpPublisher(
        "http://fleet", token, terminal_id=TID, on_command=disp.handle, client=client
    )
    agent = TelemetryAgent(box, pub, heartbeat_interval=None)
    yield Rig(client, sessions, admin, root, updater, disp, pub, agent, restarts)
    await client.aclose()
    disp.close()
    engine.dispose()


async def test_update_installs_the_fleets_package_into_the_other_slot(rig: Rig) -> None:
    body = make_package("2.2.0")
    pkg = await rig.upload(body, "2.2.0")
    row = await rig.send_update({"version": "2.2.0", "sha256": pkg["sha256"], "size": pkg["size"]})
    assert row.status == "succeeded", row.result
    assert rig.updater.active_slot() == "b"
    assert rig.updater.version() == "2.2.0"
    assert rig.updater.known_good() == {"a": "2.1.0", "b": "2.2.0"}  # probation 0: confirmed
    assert (rig.root / "slots" / "b" / "healthcheck").is_file()
    assert "now holds 2.2.0" in detail(row)
    import asyncio

    await asyncio.sleep(0.05)
    assert rig.restarts == [1]  # restarted so that 2.2.0 runs


async def test_on_probation_the_supervisor_decides(rig: Rig) -> None:
    rig.updater.probation_s = 300
    pkg = await rig.upload(make_package("2.2.0"), "2.2.0")
    row = await rig.send_update({"version": "2.2.0", "sha256": pkg["sha256"], "size": pkg["size"]})
    assert row.status == "succeeded", row.result
    assert "on probation" in detail(row)
    assert rig.updater.status()["state"] == "probation"
    # the new version crashes within its probation: the watchdog's guard rolls it back
    rig.updater.fail_probation("runtime exited 1 three times")
    assert (rig.updater.active_slot(), rig.updater.version()) == ("a", "2.1.0")
    await rig.agent.drain_once()
    with rig.sessions() as s:
        codes = s.scalars(select(EventRow.code).where(EventRow.code.is_not(None))).all()
    assert "SW.UPDATE_FAILED" in codes


async def test_a_tampered_checksum_is_refused_before_anything_is_installed(rig: Rig) -> None:
    body = make_package("2.2.0")
    pkg = await rig.upload(body, "2.2.0")
    other = hashlib.sha256(body + b"x").hexdigest()
    row = await rig.send_update({"version": "2.2.0", "sha256": other, "size": pkg["size"]})
    assert row.status == "failed"
    assert detail(row).startswith("SW.UPDATE_FAILED download: fleet answered HTTP 404")
    wrong_size = await rig.send_update(
        {"version": "2.2.0", "sha256": pkg["sha256"], "size": pkg["size"] - 1}
    )
    assert wrong_size.status == "failed"
    assert "longer than" in detail(wrong_size)
    assert (rig.updater.active_slot(), rig.updater.version()) == ("a", "2.1.0")
    assert rig.updater.version("b") is None
    assert rig.restarts == []


async def test_a_package_failing_its_health_check_is_not_switched_to(rig: Rig) -> None:
    pkg = await rig.upload(make_package("2.2.1", healthy=False), "2.2.1")
    row = await rig.send_update({"version": "2.2.1", "sha256": pkg["sha256"], "size": pkg["size"]})
    assert row.status == "failed"
    assert detail(row).startswith("SW.UPDATE_FAILED health_check:")
    assert (rig.updater.active_slot(), rig.updater.version()) == ("a", "2.1.0")
    with rig.sessions() as s:
        fault = s.scalars(select(EventRow).where(EventRow.code == "SW.UPDATE_FAILED")).one()
        assert fault.data["stage"] == "health_check"
        assert fault.data["to_version"] == "2.2.1"
    assert rig.restarts == []


async def test_the_command_must_name_the_packages_version(rig: Rig) -> None:
    pkg = await rig.upload(make_package("2.2.0"), "2.2.0")
    row = await rig.send_update({"version": "9.9.9", "sha256": pkg["sha256"], "size": pkg["size"]})
    assert row.status == "failed"
    assert detail(row) == "SW.UPDATE_FAILED package: package holds 2.2.0, the command said 9.9.9"
    assert rig.updater.version("b") is None


@pytest.mark.parametrize(
    ("update_root", "agent", "offered"),
    [
        (True, {"transport": "http", "url": "http://127.0.0.1:9", "token": "T.x"}, True),
        (False, {"transport": "http", "url": "http://127.0.0.1:9", "token": "T.x"}, False),
        (True, {"transport": "none"}, False),  # nowhere to download from
    ],
    ids=["update-root-and-fleet", "no-update-root", "no-fleet-url"],
)
def test_the_heartbeat_offers_update_only_with_an_update_root(
    tmp_path: Path, update_root: bool, agent: dict[str, Any], offered: bool
) -> None:
    import yaml

    from posguard.terminal.service import TerminalService, load_service_config
    from posguard.terminal.testing import local_config

    service_cfg: dict[str, Any] = {"data_dir": str(tmp_path / "data"), "local_api": False}
    if update_root:
        SlotUpdater(tmp_path / "fw")
        service_cfg["update_root"] = str(tmp_path / "fw")
    conf = tmp_path / "terminal.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                **local_config(9, tmp_path / "journal.db").model_dump(mode="json"),
                "agent": agent,
                "service": service_cfg,
            }
        )
    )
    service = TerminalService(load_service_config(conf))
    try:
        commands = service._heartbeat_data()["commands"]
        assert ("update" in commands) is offered
        assert ("rollback" in commands) is update_root
    finally:
        service.outbox.close()
        service.lock.release()
