"""Signed firmware packages end to end: a key pair made and a real ``.tar.gz`` signed with the
``posguard fleet package`` CLI, uploaded with its signature to the real fleet app (SQLite),
sent with ``update``; the terminal downloads package and signature with its own credential
and its updater verifies the signature against the key its config trusts before anything is
copied into the real two-slot layout. An unsigned package, or one signed by another key, is
refused with ``SW.UPDATE_FAILED signature: ...`` (one line), never installed, and reported as a
fault."""

from __future__ import annotations

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
from typer.testing import CliRunner

from posguard.cli import app as cli
from posguard.common.errors import ConfigError
from posguard.common.package_signature import write_key_pair
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
from posguard.terminal.agent.publish import HttpPublisher
from posguard.terminal.agent.runner import TelemetryAgent
from posguard.terminal.update import SlotUpdater, UpdateOutcome
from posguard.terminal.update_signature_fetch import SignedPackageFetcher

TID, MID = "T0000001", "898310048990001"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
runner = CliRunner(env={"POSGUARD_LANG": "en"})


def write_package(path: Path, version: str) -> Path:
    with tarfile.open(path, mode="w:gz") as tar:
        for name, text, mode in (
            ("VERSION", version + "\n", 0o644),
            ("healthcheck", "#!/bin/sh\ntest -f VERSION\n", 0o755),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return path


def keygen(directory: Path) -> tuple[Path, str]:
    r = runner.invoke(cli, ["fleet", "package", "keygen", "--out", str(directory)])
    assert r.exit_code == 0, r.output
    public = r.output.strip().splitlines()[-1].rsplit(": ", 1)[1]
    key = directory / "package-signing.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (directory / "package-signing.pub").read_text().strip() == public
    return key, public


def sign(package: Path, key: Path) -> str:
    r = runner.invoke(cli, ["fleet", "package", "sign", str(package), "--key", str(key)])
    assert r.exit_code == 0, r.output
    return (package.parent / (package.name + ".sig")).read_text().strip()


@dataclass
class Rig:
    tmp: Path
    client: httpx.AsyncClient
    sessions: sessionmaker[Session]
    admin: dict[str, str]
    updater: SlotUpdater
    pub: HttpPublisher
    agent: TelemetryAgent
    key: Path
    public: str

    async def upload(self, package: Path, version: str, signature: str | None) -> httpx.Response:
        data = {"version": version, "models": "PX-5"}
        if signature is not None:
            data["signature"] = signature
        return await self.client.post(
            "/api/v1/packages",
            files={"file": (package.name, package.read_bytes(), "application/gzip")},
            data=data,
            headers=self.admin,
        )

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
        await self.agent.drain_once()
        with self.sessions() as s:
            row = s.get(CommandRow, cmd_id)
            assert row is not None
            s.expunge(row)
            return row


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    key, public = keygen(tmp_path / "keys")
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
        create_user(s, username="admin", password="admin-password", role=Role.ADMIN, now=NOW)
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
    root = tmp_path / "opt"
    updater = SlotUpdater(root, trusted_keys=[public])  # the terminal config's key
    (root / "slots" / "a" / "VERSION").write_text("2.1.0\n")
    box = Outbox(tmp_path / "outbox.db", TID, MID)
    updater._emit_hook = box.emit
    fetcher = SignedPackageFetcher("http://fleet", token, tmp_path / "dl", client=client)
    handlers = command_handlers(
        updater=updater, fetch_package=fetcher.fetch, reboot=None, reboot_delay=0.0
    )
    disp = CommandDispatcher(tmp_path / "cmd.db", handlers, box.emit)
    pub = HttpPublisher(
        "http://fleet", token, terminal_id=TID, on_command=disp.handle, client=client
    )
    agent = TelemetryAgent(box, pub, heartbeat_interval=None)
    yield Rig(tmp_path, client, sessions, admin, updater, pub, agent, key, public)
    await client.aclose()
    disp.close()
    engine.dispose()


def _args(uploaded: httpx.Response) -> dict[str, Any]:
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    return {"version": body["version"], "sha256": body["sha256"], "size": body["size"]}


async def test_a_signed_package_is_verified_and_installed(rig: Rig) -> None:
    package = write_package(rig.tmp / "fw-2.2.0.tar.gz", "2.2.0")
    signature = sign(package, rig.key)
    uploaded = await rig.upload(package, "2.2.0", signature)
    assert uploaded.json()["signature"] == signature
    row = await rig.send_update(_args(uploaded))
    assert row.status == "succeeded", row.result
    assert (rig.updater.active_slot(), rig.updater.version()) == ("b", "2.2.0")
    assert rig.updater.status()["signed_only"] is True


async def test_an_unsigned_package_is_refused_and_never_installed(rig: Rig) -> None:
    package = write_package(rig.tmp / "fw-2.2.0.tar.gz", "2.2.0")
    row = await rig.send_update(_args(await rig.upload(package, "2.2.0", None)))
    assert row.status == "failed"
    assert row.result is not None
    assert str(row.result["detail"]).startswith(
        "SW.UPDATE_FAILED signature: update package is not signed"
    )
    assert "\n" not in str(row.result["detail"])
    assert (rig.updater.active_slot(), rig.updater.version()) == ("a", "2.1.0")
    assert rig.updater.version("b") is None  # nothing was copied
    with rig.sessions() as s:
        fault = s.scalars(select(EventRow).where(EventRow.code == "SW.UPDATE_FAILED")).one()
        assert fault.data["stage"] == "signature"


async def test_a_package_signed_by_another_key_is_refused(rig: Rig) -> None:
    other_key, _ = write_key_pair(rig.tmp / "other")
    package = write_package(rig.tmp / "fw-2.2.0.tar.gz", "2.2.0")
    row = await rig.send_update(_args(await rig.upload(package, "2.2.0", sign(package, other_key))))
    assert row.status == "failed"
    assert row.result is not None
    assert str(row.result["detail"]) == (
        "SW.UPDATE_FAILED signature: update package signature does not match any trusted key"
    )
    assert rig.updater.version("b") is None


def test_a_signature_of_another_package_is_refused_beside_the_file(tmp_path: Path) -> None:
    """The CLI path: ``<package>.sig`` beside the archive; a signature copied from another
    package (same key) does not cover these bytes."""
    key, public = keygen(tmp_path / "keys")
    good = write_package(tmp_path / "a.tar.gz", "3.0.0")
    sign(good, key)
    bad = write_package(tmp_path / "b.tar.gz", "3.0.1")
    (tmp_path / "b.tar.gz.sig").write_text((tmp_path / "a.tar.gz.sig").read_text())
    up = SlotUpdater(tmp_path / "opt", trusted_keys=[public])
    refused = up.apply(bad)
    assert refused.outcome is UpdateOutcome.REFUSED
    assert refused.detail == "update package signature does not match any trusted key"
    assert up.version("b") is None
    assert up.record().last_failure is not None
    assert up.apply(good).outcome is UpdateOutcome.UPDATED
    assert up.version() == "3.0.0"
    r = runner.invoke(cli, ["fleet", "package", "verify", str(bad), "--public-key", public])
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1].endswith("does not match any trusted key")


def test_a_bad_trusted_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must start with 'ed25519:'"):
        SlotUpdater(tmp_path / "opt", trusted_keys=["AAAA"])


async def test_a_fleet_with_signing_keys_refuses_unsigned_and_wrongly_signed_uploads(
    rig: Rig,
) -> None:
    settings = FleetSettings(
        database_url=f"sqlite:///{rig.tmp / 'fleet.db'}",
        jwt_secret="s" * 40,
        diagnosis_in_process=False,
        package_dir=rig.tmp / "fleet-packages",
        package_public_keys=[rig.public],
    )
    strict = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://fleet"
    )
    rig.client = strict
    try:
        package = write_package(rig.tmp / "fw-2.3.0.tar.gz", "2.3.0")
        unsigned = await rig.upload(package, "2.3.0", None)
        assert unsigned.status_code == 422
        assert "signed packages only" in unsigned.text
        other_key, _ = write_key_pair(rig.tmp / "other")
        wrong = await rig.upload(package, "2.3.0", sign(package, other_key))
        assert wrong.status_code == 422
        assert "does not match any trusted key" in wrong.text
        assert not any((rig.tmp / "fleet-packages").glob("*.tar.gz"))  # nothing kept
        good = await rig.upload(package, "2.3.0", sign(package, rig.key))
        assert good.status_code == 201
    finally:
        await strict.aclose()


def test_terminal_update_apply_with_a_trusted_key(tmp_path: Path) -> None:
    """``posguard terminal update apply --public-key``: an unsigned package exits 1 with the
    reason and leaves the running version; the signed one switches."""
    key, public = keygen(tmp_path / "keys")
    root = tmp_path / "opt"
    assert runner.invoke(cli, ["terminal", "update", "init", "--root", str(root)]).exit_code == 0
    package = write_package(tmp_path / "fw-4.0.0.tar.gz", "4.0.0")
    apply = ["terminal", "update", "apply", str(package), "--root", str(root)]
    opts = ["--probation", "0", "--public-key", public, "--lang", "en"]
    r = runner.invoke(cli, [*apply, *opts])
    assert r.exit_code == 1, r.output
    assert "update package is not signed" in r.output
    assert SlotUpdater(root, create=False).version("b") is None
    sign(package, key)
    r = runner.invoke(cli, [*apply, *opts])
    assert r.exit_code == 0, r.output
    assert SlotUpdater(root, create=False).version() == "4.0.0"
