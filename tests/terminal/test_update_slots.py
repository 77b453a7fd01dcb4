"""Two-slot update on real directories: the health check runs in the new slot before the
switch, only known good versions are rolled back to, and a power cut at any step of an update
leaves a bootable terminal that reports the version it really runs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from posguard.common.events import EventKind
from posguard.terminal.testing import EventRecorder
from posguard.terminal.update import (
    HealthResult,
    SlotUpdater,
    UpdateOutcome,
    process_health_check,
)


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
    up.point_current("b")  # bootstrap: v1 in slot b, as if installed by the factory
    assert first == "1.0.0"
    return up, rec


def _faults(rec: EventRecorder) -> list[tuple[str | None, dict[str, object]]]:
    return [(c, d) for k, c, d in rec.events if k is EventKind.FAULT]


def test_healthy_update_is_checked_before_the_switch_and_confirmed(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    up, rec = updater
    assert up.active_slot() == "b"
    seen: list[str] = []

    def check(slot: Path) -> HealthResult:
        seen.append(os.readlink(up.current_link))  # a restart now would still run v1
        return process_health_check(10)(slot)

    up.health_check = check
    result = up.apply(package(tmp_path, "1.1.0", healthy=True))
    assert result.outcome is UpdateOutcome.UPDATED
    assert seen == ["slots/b"]
    assert up.active_slot() == "a"
    assert up.version() == "1.1.0"
    assert (up.current_link / "app.txt").read_text() == "posguard runtime 1.1.0\n"
    assert "checked 1.1.0 in" in result.detail
    assert str(up.slot_dir("a")) in result.detail
    assert [d.get("event") for k, _, d in rec.events if k is EventKind.LIFECYCLE] == [
        "update_started",
        "update_switched",
        "updated",
    ]
    assert not _faults(rec)
    assert up.known_good() == {"a": "1.1.0", "b": "1.0.0"}


def test_unhealthy_update_never_runs_and_is_reported(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    up, rec = updater
    result = up.apply(package(tmp_path, "2.0.0", healthy=False))
    assert result.outcome is UpdateOutcome.FAILED
    assert up.active_slot() == "b"
    assert up.version() == "1.0.0"
    assert up.version("a") == "2.0.0"  # kept in the inactive slot for analysis
    [(code, data)] = _faults(rec)
    assert code == "SW.UPDATE_FAILED"
    assert data["from_version"] == "1.0.0"
    assert data["to_version"] == "2.0.0"
    assert data["stage"] == "health_check"
    assert data["running"] == "1.0.0"
    assert "exited 1" in str(data["reason"])
    failure = up.status()["last_failure"]
    assert failure["code"] == "SW.UPDATE_FAILED"
    assert failure["to_version"] == "2.0.0"
    assert "exited 1" in failure["reason"]


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
    assert [c for c, _ in _faults(rec)] == ["SW.UPDATE_FAILED"] * 2
    assert not list((up.root / "slots").glob(".install-*"))  # no half-copied staging left


def test_truncated_tar_gz_is_refused_in_one_line(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    up, rec = updater
    pkg = package(tmp_path, "1.3.0", True)
    (pkg / "blob.bin").write_bytes(os.urandom(256 * 1024))
    archive = tmp_path / "posguard-1.3.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for f in pkg.iterdir():
            tar.add(f, arcname=f.name)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    result = up.apply(cut)
    assert result.outcome is UpdateOutcome.REFUSED
    assert "truncated or corrupt" in result.detail
    assert "\n" not in result.detail
    assert up.version() == "1.0.0"
    assert not list((up.root / "slots").glob(".install-*"))
    assert _faults(rec)[0][1]["stage"] == "install"


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


def test_rollback_goes_to_the_known_good_version_after_its_check(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    up, rec = updater
    up.apply(package(tmp_path, "1.1.0", True))
    checked: list[Path] = []

    def check(slot: Path) -> HealthResult:
        checked.append(slot)
        return HealthResult(True, "ok")

    up.health_check = check
    result = up.rollback()
    assert result.outcome is UpdateOutcome.ROLLED_BACK
    assert result.version == "1.0.0"
    assert checked == [up.slot_dir("b")]
    assert up.active_slot() == "b"
    assert rec.events[-1][2] == {
        "event": "rolled_back",
        "version": "1.0.0",
        "slot": "b",
        "from_version": "1.1.0",
        "automatic": False,
    }
    fresh = SlotUpdater(tmp_path / "fresh")
    refused = fresh.rollback()
    assert refused.outcome is UpdateOutcome.REFUSED
    assert "no version to roll back to" in refused.detail


def test_rollback_to_a_version_that_failed_is_refused(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    """The other slot holds the version whose check just failed: never switched to it."""
    up, _ = updater
    assert up.apply(package(tmp_path, "2.0.0", healthy=False)).outcome is UpdateOutcome.FAILED
    result = up.rollback()
    assert result.outcome is UpdateOutcome.REFUSED
    assert "2.0.0" in result.detail
    assert "not known good" in result.detail
    assert up.active_slot() == "b"
    assert up.version() == "1.0.0"


def test_rollback_whose_target_fails_its_check_is_refused(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    up, rec = updater
    up.apply(package(tmp_path, "1.1.0", True))
    (up.slot_dir("b") / "healthcheck").write_text("#!/bin/sh\necho disk gone\nexit 4\n")
    result = up.rollback()
    assert result.outcome is UpdateOutcome.REFUSED
    assert "exited 4" in result.detail
    assert up.version() == "1.1.0"
    assert _faults(rec)[-1][1]["stage"] == "rollback_check"


def test_a_rollback_issued_before_the_software_changed_no_longer_applies(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    up, _ = updater
    issued = datetime.now(UTC) - timedelta(minutes=5)  # held by the broker meanwhile
    up.apply(package(tmp_path, "1.1.0", True))
    result = up.rollback(issued_at=issued)
    assert result.outcome is UpdateOutcome.REFUSED
    assert "no longer applies" in result.detail
    assert up.version() == "1.1.0"
    assert up.rollback(issued_at=datetime.now(UTC)).outcome is UpdateOutcome.ROLLED_BACK


def test_probation_confirms_or_rolls_back(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    up, rec = updater
    up.probation_s = 30
    result = up.apply(package(tmp_path, "1.1.0", True))
    assert result.outcome is UpdateOutcome.ON_PROBATION
    assert up.version() == "1.1.0"
    assert up.known_good() == {"b": "1.0.0"}  # not yet
    refused = up.apply(package(tmp_path, "1.2.0", True))
    assert refused.outcome is UpdateOutcome.REFUSED
    assert "probation" in refused.detail
    failed = up.fail_probation("crashed during its probation")
    assert failed is not None
    assert failed.outcome is UpdateOutcome.FAILED
    assert up.version() == "1.0.0"
    assert _faults(rec)[-1][1]["stage"] == "probation"
    up2 = tmp_path / "again"
    up2.mkdir()
    assert up.apply(package(up2, "1.1.1", True)).outcome is UpdateOutcome.ON_PROBATION
    confirmed = up.confirm()
    assert confirmed is not None
    assert confirmed.outcome is UpdateOutcome.UPDATED
    assert up.known_good() == {"a": "1.1.1", "b": "1.0.0"}


def test_health_check_timeout_kills_its_process_group(tmp_path: Path) -> None:
    slot = tmp_path / "slot"
    slot.mkdir()
    pidfile = tmp_path / "helper.pid"
    check = slot / "healthcheck"
    check.write_text(f"#!/bin/sh\nsleep 300 >/dev/null 2>&1 &\necho $! > {pidfile}\nsleep 300\n")
    check.chmod(0o755)
    started = time.monotonic()
    result = process_health_check(timeout=1)(slot)
    assert not result.ok
    assert "no answer within 1 s" in result.detail
    assert time.monotonic() - started < 10
    helper = int(pidfile.read_text())
    end = time.monotonic() + 5  # SIGKILL is delivered asynchronously
    while running(helper) and time.monotonic() < end:
        time.sleep(0.05)
    assert not running(helper)  # the helper it started is gone too


def running(pid: int) -> bool:
    """A live process (a zombie waiting for its reaper has stopped running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


STEP_CHILD = textwrap.dedent(
    """
    import os, sys
    from posguard.terminal.update import SlotUpdater

    def step(name):
        if name == sys.argv[3]:
            os._exit(9)  # power cut at this step

    SlotUpdater(sys.argv[1], on_step=step, probation_s=float(sys.argv[4])).apply(sys.argv[2])
    """
)

STEPS = ["copied", "slot_removed", "checking", "checked", "probation", "switched", "confirmed"]


@pytest.mark.parametrize("probation", [0.0, 30.0])
@pytest.mark.parametrize("step", STEPS)
def test_power_loss_at_each_step_of_apply_leaves_a_bootable_terminal(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder], step: str, probation: float
) -> None:
    up, _ = updater
    pkg = package(tmp_path, "4.0.0", True)
    (pkg / "blob.bin").write_bytes(os.urandom(64 * 1024))
    proc = subprocess.run(
        [sys.executable, "-c", STEP_CHILD, str(up.root), str(pkg), step, str(probation)],
        timeout=60,
        check=False,
    )
    if step == "confirmed" and probation:
        assert proc.returncode == 0  # on probation: confirmed later, by the watchdog
    else:
        assert proc.returncode == 9
    rec = EventRecorder()
    booted = SlotUpdater(up.root, emit=rec, health_check=lambda s: HealthResult(False, "no"))
    booted.recover()  # never runs a health check (it would fail here)
    status = booted.status()
    running = status["running"]
    # the version ``current`` names is whole, and it is what is reported
    assert running in ("1.0.0", "4.0.0")
    assert (booted.current_link / "app.txt").read_text() == f"posguard runtime {running}\n"
    assert not list((up.root / "slots").glob(".*"))  # no staging copies left
    passed_check = STEPS.index(step) >= STEPS.index("probation")
    assert running == ("4.0.0" if passed_check else "1.0.0")
    if passed_check and probation:
        assert status["state"] == "probation"
    else:
        assert status["state"] == "idle"
    updated = [d for k, _, d in rec.events if d.get("event") == "updated"]
    assert all(d["to_version"] == running for d in updated)
    if step in ("checking", "checked"):  # cut off during the check: abandoned and reported
        assert [c for k, c, _ in rec.events if k is EventKind.FAULT] == ["SW.UPDATE_FAILED"]
    assert booted.recover() is None  # finished: nothing left to do on the next boot


ROLLBACK_CHILD = textwrap.dedent(
    """
    import os, sys
    from posguard.terminal.update import HealthResult, SlotUpdater

    def step(name):
        if name == sys.argv[2]:
            os._exit(9)

    up = SlotUpdater(sys.argv[1], on_step=step, health_check=lambda s: HealthResult(True, "ok"))
    up.fail_probation("crashed")
    """
)


@pytest.mark.parametrize("step", ["rolling_back", "rolled_back"])
def test_power_loss_during_a_rollback_finishes_it_at_boot(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder], step: str
) -> None:
    up, _ = updater
    up.probation_s = 30
    assert up.apply(package(tmp_path, "5.0.0", True)).outcome is UpdateOutcome.ON_PROBATION
    proc = subprocess.run(
        [sys.executable, "-c", ROLLBACK_CHILD, str(up.root), step], timeout=60, check=False
    )
    assert proc.returncode == 9
    booted = SlotUpdater(up.root, health_check=lambda s: HealthResult(True, "would pass"))
    booted.recover()
    assert booted.version() == "1.0.0"  # never "updated" to the version being rolled back
    assert booted.status()["state"] == "idle"


def test_status_of_a_mistyped_root_creates_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from posguard.cli import app

    wrong = tmp_path / "no-such-root"
    result = CliRunner().invoke(app, ["terminal", "update", "status", "--root", str(wrong)])
    assert result.exit_code == 2
    assert "no two-slot layout" in result.output
    assert not wrong.exists()


def test_failed_update_reaches_telemetry_and_update_status(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    import yaml
    from typer.testing import CliRunner

    from posguard.cli import app
    from posguard.terminal.agent.outbox import Outbox
    from posguard.terminal.testing import LAB_MID, LAB_TID, local_config

    up, _ = updater
    data = tmp_path / "data"
    conf = tmp_path / "terminal.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                **local_config(9, data / "journal.db").model_dump(mode="json"),
                "service": {"data_dir": str(data)},
            }
        )
    )
    pkg = package(tmp_path, "2.0.0", healthy=False)
    runner = CliRunner()
    applied = runner.invoke(
        app,
        [
            *("terminal", "update", "apply", str(pkg), "--root", str(up.root)),
            *("--config", str(conf), "--lang", "en"),
        ],
    )
    assert applied.exit_code == 1
    assert applied.output.startswith("failed: slot b runs 1.0.0")
    box = Outbox(data / "outbox.db", LAB_TID, LAB_MID)
    try:
        faults = [e for e in box.peek(100) if e.kind is EventKind.FAULT]
    finally:
        box.close()
    assert [e.code for e in faults] == ["SW.UPDATE_FAILED"]
    assert faults[0].data["to_version"] == "2.0.0"
    assert faults[0].data["stage"] == "health_check"
    status = runner.invoke(
        app, ["terminal", "update", "status", "--root", str(up.root), "--lang", "en"]
    )
    assert status.exit_code == 0
    lines = status.output.splitlines()
    assert lines[0] == "  a: 2.0.0"
    assert lines[1] == "* b: 1.0.0 (known good)"
    assert lines[2].startswith("last failure: SW.UPDATE_FAILED at ")
    assert "2.0.0 (health_check): healthcheck exited 1" in lines[2]
    zh = runner.invoke(
        app, ["terminal", "update", "status", "--root", str(up.root), "--lang", "zh"]
    )
    assert zh.output.splitlines()[1] == "* b: 1.0.0（已验证可用）"
    assert zh.output.splitlines()[2].startswith("上次失败: SW.UPDATE_FAILED 于 ")
    refused = runner.invoke(
        app, ["terminal", "update", "rollback", "--root", str(up.root), "--lang", "en"]
    )
    assert refused.exit_code == 1
    assert refused.output.startswith("refused: slot a holds 2.0.0, which is not known good")


def test_a_refused_package_keeps_the_rollback_target(
    tmp_path: Path, updater: tuple[SlotUpdater, EventRecorder]
) -> None:
    up, _ = updater
    up.apply(package(tmp_path, "1.1.0", True))
    assert up.known_good() == {"a": "1.1.0", "b": "1.0.0"}
    refused = up.apply(package(tmp_path, "1.2.0", True), sha256="0" * 64)
    assert refused.outcome is UpdateOutcome.REFUSED
    assert up.known_good() == {"a": "1.1.0", "b": "1.0.0"}  # slot b was never touched
    assert up.rollback().outcome is UpdateOutcome.ROLLED_BACK
    assert up.version() == "1.0.0"
