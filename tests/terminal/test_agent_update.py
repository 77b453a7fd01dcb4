"""The ``update`` command end to end: an admin uploads a real package to the real fleet app
(SQLite), the fleet issues ``update``, the terminal agent picks it up over HTTP, downloads the
package with its own credential, checks size and SHA-256, installs it into a real two-slot
layout (the package's own ``healthcheck`` runs as a process in the new slot) and answers the
command; a bad package or a tampered checksum leaves the running version where it was and
answers ``failed`` with ``SW.UPDATE_FAILED <stage>``."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from posguard.fleet.db.models import Command as CommandRow
from posguard.fleet.db.models import EventRow
from posguard.terminal.update import SlotUpdater

from .update_rig import UpdateRig, package_bytes, update_rig


def detail(row: CommandRow) -> str:
    assert row.result is not None
    return str(row.result["detail"])


async def uploaded(rig: UpdateRig, body: bytes, version: str) -> dict[str, Any]:
    """The admin's upload of ``body``, accepted: its sha256 and size."""
    r = await rig.upload(body, version)
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[UpdateRig]:
    async with update_rig(tmp_path) as r:
        yield r


async def test_update_installs_the_fleets_package_into_the_other_slot(rig: UpdateRig) -> None:
    body = package_bytes("2.2.0")
    pkg = await uploaded(rig, body, "2.2.0")
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


async def test_on_probation_the_supervisor_decides(rig: UpdateRig) -> None:
    rig.updater.probation_s = 300
    pkg = await uploaded(rig, package_bytes("2.2.0"), "2.2.0")
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


async def test_a_tampered_checksum_is_refused_before_anything_is_installed(rig: UpdateRig) -> None:
    body = package_bytes("2.2.0")
    pkg = await uploaded(rig, body, "2.2.0")
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


async def test_a_package_failing_its_health_check_is_not_switched_to(rig: UpdateRig) -> None:
    pkg = await uploaded(rig, package_bytes("2.2.1", healthy=False), "2.2.1")
    row = await rig.send_update({"version": "2.2.1", "sha256": pkg["sha256"], "size": pkg["size"]})
    assert row.status == "failed"
    assert detail(row).startswith("SW.UPDATE_FAILED health_check:")
    assert (rig.updater.active_slot(), rig.updater.version()) == ("a", "2.1.0")
    with rig.sessions() as s:
        fault = s.scalars(select(EventRow).where(EventRow.code == "SW.UPDATE_FAILED")).one()
        assert fault.data["stage"] == "health_check"
        assert fault.data["to_version"] == "2.2.1"
    assert rig.restarts == []


async def test_the_command_must_name_the_packages_version(rig: UpdateRig) -> None:
    pkg = await uploaded(rig, package_bytes("2.2.0"), "2.2.0")
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
