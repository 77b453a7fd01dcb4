"""Signed firmware packages end to end: a key pair made and a real ``.tar.gz`` signed with the
``posguard fleet package`` CLI, uploaded with its signature to the real fleet app (SQLite),
sent with ``update``; the terminal downloads package and signature with its own credential
and its updater verifies the signature against the key its config trusts before anything is
copied into the real two-slot layout. An unsigned package, or one signed by another key, is
refused with ``SW.UPDATE_FAILED signature: ...`` (one line), never installed, and reported as a
fault."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from posguard.cli import app as cli
from posguard.common.errors import ConfigError
from posguard.common.package_signature import write_key_pair
from posguard.fleet.api.app import create_app
from posguard.fleet.config import FleetSettings
from posguard.fleet.db.models import EventRow
from posguard.terminal.update import SlotUpdater, UpdateOutcome
from posguard.terminal.update_signature_fetch import SignedPackageFetcher

from .update_rig import UpdateRig, package_bytes, update_rig

runner = CliRunner(env={"POSGUARD_LANG": "en"})


def write_package(path: Path, version: str) -> Path:
    path.write_bytes(package_bytes(version))
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


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, str]:
    """The signing key pair made with the CLI: the private key's path, the public key."""
    return keygen(tmp_path / "keys")


@pytest.fixture
async def rig(tmp_path: Path, keys: tuple[Path, str]) -> AsyncIterator[UpdateRig]:
    """The terminal trusts ``keys``' public key (its config's ``update_public_keys``)."""
    async with update_rig(
        tmp_path, fetcher=SignedPackageFetcher, trusted_keys=[keys[1]], reboots=False
    ) as r:
        yield r


async def upload(
    rig: UpdateRig, package: Path, version: str, signature: str | None
) -> httpx.Response:
    return await rig.upload(package.read_bytes(), version, name=package.name, signature=signature)


def _args(uploaded: httpx.Response) -> dict[str, Any]:
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    return {"version": body["version"], "sha256": body["sha256"], "size": body["size"]}


async def test_a_signed_package_is_verified_and_installed(
    rig: UpdateRig, keys: tuple[Path, str]
) -> None:
    package = write_package(rig.tmp / "fw-2.2.0.tar.gz", "2.2.0")
    signature = sign(package, keys[0])
    uploaded = await upload(rig, package, "2.2.0", signature)
    assert uploaded.json()["signature"] == signature
    row = await rig.send_update(_args(uploaded))
    assert row.status == "succeeded", row.result
    assert (rig.updater.active_slot(), rig.updater.version()) == ("b", "2.2.0")
    assert rig.updater.status()["signed_only"] is True


async def test_an_unsigned_package_is_refused_and_never_installed(rig: UpdateRig) -> None:
    package = write_package(rig.tmp / "fw-2.2.0.tar.gz", "2.2.0")
    row = await rig.send_update(_args(await upload(rig, package, "2.2.0", None)))
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


async def test_a_package_signed_by_another_key_is_refused(rig: UpdateRig) -> None:
    other_key, _ = write_key_pair(rig.tmp / "other")
    package = write_package(rig.tmp / "fw-2.2.0.tar.gz", "2.2.0")
    row = await rig.send_update(
        _args(await upload(rig, package, "2.2.0", sign(package, other_key)))
    )
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
    rig: UpdateRig,
    keys: tuple[Path, str],
) -> None:
    settings = FleetSettings(
        database_url=f"sqlite:///{rig.tmp / 'fleet.db'}",
        jwt_secret="s" * 40,
        diagnosis_in_process=False,
        package_dir=rig.tmp / "fleet-packages",
        package_public_keys=[keys[1]],
    )
    strict = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://fleet"
    )
    rig.client = strict
    try:
        package = write_package(rig.tmp / "fw-2.3.0.tar.gz", "2.3.0")
        unsigned = await upload(rig, package, "2.3.0", None)
        assert unsigned.status_code == 422
        assert "signed packages only" in unsigned.text
        other_key, _ = write_key_pair(rig.tmp / "other")
        wrong = await upload(rig, package, "2.3.0", sign(package, other_key))
        assert wrong.status_code == 422
        assert "does not match any trusted key" in wrong.text
        assert not any((rig.tmp / "fleet-packages").glob("*.tar.gz"))  # nothing kept
        good = await upload(rig, package, "2.3.0", sign(package, keys[0]))
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
