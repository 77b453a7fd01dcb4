"""Two-slot update on real directories: switch, health check in the new slot, rollback."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from posguard.common.errors import ConfigError
from posguard.common.events import EventKind
from posguard.terminal.testing import EventRecorder
from posguard.terminal.update import HealthResult, SlotUpdater, UpdateOutcome


def package(root: Path, version: str, healthy: bool) -> Path:
    pkg = root / f"pkg-{version}"
    pkg.mkdir()
    (pkg / "VERSION").write_text(version + "\n")
    (pkg / "app.txt").write_text(f"posguard runtime {version}\n")
    check = pkg / "healthcheck"
    # the check proves it runs inside the new slot: it reads the slot's own files
    check.write_text(
        "#!/bin/sh\n"
        "test -f VERSION || exit 2\n"
        'echo "checked $(cat VERSION) in $(pwd)"\n'
        f"exit {0 if healthy else 1}\n"
    )
    check.chmod(0o755)
    return pkg


@pytest.fixture
def updater(tmp_path: Path) -> tuple[SlotUpdater, EventRecorder]:
    rec = EventRecorder()
    up = SlotUpdater(tmp_path / "terminal", emit=rec)
    first = up.install(package(tmp_path, "1.0.0", True))
    up._point_current("b")  # bootstrap: v1 in slot b, as if installed by the factory
    assert first == "1.0.0"
    return up, rec


def test_healthy_update_switches_to_the_other_slot(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    up, rec = updater
    assert up.active_slot() == "b"
    result = up.apply(package(tmp_path, "1.1.0", healthy=True))
    assert result.outcome is UpdateOutcome.UPDATED
    assert up.active_slot() == "a"
    assert up.version() == "1.1.0"
    assert (up.current_link / "app.txt").read_text() == "posguard runtime 1.1.0\n"
    assert os.readlink(up.current_link) == "slots/a"
    assert "checked 1.1.0 in" in result.detail
    assert str(up.slot_dir("a")) in result.detail
    assert [d.get("event") for k, _, d in rec.events if k is EventKind.LIFECYCLE] == [
        "update_started",
        "updated",
    ]
    assert not [e for e in rec.events if e[0] is EventKind.FAULT]


def test_unhealthy_update_is_rolled_back_and_reported(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    up, rec = updater
    result = up.apply(package(tmp_path, "2.0.0", healthy=False))
    assert result.outcome is UpdateOutcome.ROLLED_BACK
    assert up.active_slot() == "b"
    assert up.version() == "1.0.0"
    assert (up.current_link / "app.txt").read_text() == "posguard runtime 1.0.0\n"
    assert up.version("a") == "2.0.0"  # kept in the inactive slot for analysis
    fault = [(c, d) for k, c, d in rec.events if k is EventKind.FAULT]
    assert len(fault) == 1
    code, data = fault[0]
    assert code == "SW.UPDATE_FAILED"
    assert data["from_version"] == "1.0.0"
    assert data["to_version"] == "2.0.0"
    assert data["stage"] == "health_check"
    assert "exited 1" in data["reason"]
    assert rec.events[-1][2]["event"] == "rolled_back"


def test_bad_checksum_or_package_is_refused_without_switching(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    up, rec = updater
    before = sorted(p.name for p in up.slot_dir("a").iterdir())
    result = up.apply(package(tmp_path, "3.0.0", True), sha256="0" * 64)
    assert result.outcome is UpdateOutcome.REFUSED
    assert "checksum" in result.detail
    empty = tmp_path / "empty"
    empty.mkdir()
    assert up.apply(empty).outcome is UpdateOutcome.REFUSED
    assert up.active_slot() == "b"
    assert sorted(p.name for p in up.slot_dir("a").iterdir()) == before
    assert [c for k, c, _ in rec.events if k is EventKind.FAULT] == ["SW.UPDATE_FAILED"] * 2
    assert not list((up.root / "slots").glob(".install-*"))  # no half-copied staging left


def test_tar_gz_package_with_matching_checksum(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    up, _ = updater
    pkg = package(tmp_path, "1.2.0", True)
    archive = tmp_path / "posguard-1.2.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for f in pkg.iterdir():
            tar.add(f, arcname=f.name)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert up.apply(archive, sha256=digest).outcome is UpdateOutcome.UPDATED
    assert up.version() == "1.2.0"


def test_manual_rollback_switches_back(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    up, rec = updater
    up.apply(package(tmp_path, "1.1.0", True))
    result = up.rollback()
    assert result.version == "1.0.0"
    assert up.active_slot() == "b"
    assert rec.events[-1][2] == {
        "event": "rolled_back",
        "version": "1.0.0",
        "slot": "b",
        "from_version": "1.1.0",
        "automatic": False,
    }
    fresh = SlotUpdater(tmp_path / "fresh")
    with pytest.raises(ConfigError, match="no version to roll back to"):
        fresh.rollback()


CRASH_CHILD = textwrap.dedent(
    """
    import os, sys
    from posguard.terminal.update import SlotUpdater

    def dies(slot):
        os._exit(9)  # power cut while the new version is being checked

    SlotUpdater(sys.argv[1], health_check=dies).apply(sys.argv[2])
    """
)


@pytest.mark.parametrize("healthy_on_boot", [True, False])
def test_crash_before_confirmation_is_finished_at_boot(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder], healthy_on_boot: bool
) -> None:
    up, _ = updater
    pkg = package(tmp_path, "4.0.0", True)
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_CHILD, str(up.root), str(pkg)], timeout=60, check=False
    )
    assert proc.returncode == 9
    assert up.active_slot() == "a"  # switched, never confirmed
    rec = EventRecorder()
    booted = SlotUpdater(
        up.root, health_check=lambda slot: HealthResult(healthy_on_boot, "boot check"), emit=rec
    )
    result = booted.recover()
    assert result is not None
    if healthy_on_boot:
        assert result.outcome is UpdateOutcome.UPDATED
        assert booted.active_slot() == "a"
    else:
        assert result.outcome is UpdateOutcome.ROLLED_BACK
        assert booted.active_slot() == "b"
        assert [c for k, c, _ in rec.events if k is EventKind.FAULT] == ["SW.UPDATE_FAILED"]
    assert booted.recover() is None  # finished: nothing left to do on the next boot
