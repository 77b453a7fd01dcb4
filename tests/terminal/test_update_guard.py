"""The watchdog carrying a two-slot update through, with real processes: the supervised command
is ``current/run.py``, so what runs is what ``current`` names. A version that passes its health
check but crashes at start is rolled back within its probation; a good one is confirmed after
it; a power cut during a long health check leaves a terminal that boots at once on the old
version; a rollback the broker held while all this happened is not executed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from posguard.common.events import EventKind
from posguard.terminal.agent.commands import CommandDispatcher, CommandStatus
from posguard.terminal.agent.handlers import command_handlers
from posguard.terminal.testing import EventRecorder
from posguard.terminal.update import SlotUpdater, UpdateOutcome
from posguard.terminal.update_guard import UpdateGuard
from posguard.terminal.watchdog import Supervisor

from .service_rig import wait_until

RUNTIME = """\
import os, pathlib, sys, time
from posguard.terminal.watchdog import run_supervised

here = pathlib.Path(__file__).resolve().parent
version = (here / "VERSION").read_text().strip()
log = pathlib.Path(sys.argv[1])

def main(hb):
    with open(log, "a") as f:
        f.write(f"{version} {os.getpid()}\\n")
    if "crash" in version:
        sys.exit(1)  # passes its health check, dies at start
    if "hang" in version:
        hb.beat()
        time.sleep(3600)  # passes its health check, hangs once serving
    while True:
        hb.beat()
        time.sleep(0.05)

run_supervised(main, lambda reason: None)
"""


def package(where: Path, version: str, check: str = "exit 0") -> Path:
    pkg = where / f"pkg-{version}"
    pkg.mkdir()
    (pkg / "VERSION").write_text(version + "\n")
    (pkg / "run.py").write_text(RUNTIME)
    hc = pkg / "healthcheck"
    hc.write_text(f"#!/bin/sh\n{check}\n")
    hc.chmod(0o755)
    return pkg


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """v1.0.0 installed in slot b and running (the factory install: known good)."""
    up = SlotUpdater(tmp_path / "terminal")
    up.install(package(tmp_path, "1.0.0"))
    up.point_current("b")
    return up.root


def running(log: Path) -> list[str]:
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


class Supervised:
    def __init__(self, root: Path, log: Path, **kw: object) -> None:
        self.rec = EventRecorder()
        self.updater = SlotUpdater(root, emit=self.rec, create=False)
        self.sup = Supervisor(
            [sys.executable, str(root / "current" / "run.py"), str(log)],
            interval=0.2,
            missed=5,
            grace=1,
            emit=self.rec,
            restart_backoff=0.05,
            hooks=UpdateGuard(self.updater),
            **kw,  # type: ignore[arg-type]
        )
        self.thread = threading.Thread(target=self.sup.run)


@pytest.fixture
def supervised(root: Path, tmp_path: Path) -> Iterator[Supervised]:
    s = Supervised(root, tmp_path / "ran.log")
    s.thread.start()
    try:
        wait_until(lambda: running(tmp_path / "ran.log") == ["1.0.0"], 30, "v1.0.0 to run")
        yield s
    finally:
        s.sup.stop()
        s.thread.join(30)
    assert not s.thread.is_alive()


def test_version_crashing_at_start_is_rolled_back_within_its_probation(
    root: Path, tmp_path: Path, supervised: Supervised
) -> None:
    log = tmp_path / "ran.log"
    up = SlotUpdater(root, probation_s=30, create=False)
    result = up.apply(package(tmp_path, "2.0.0-crash"))
    assert result.outcome is UpdateOutcome.ON_PROBATION  # its health check passed
    wait_until(
        lambda: running(log)[-1:] == ["1.0.0"] and len(running(log)) == 3, 60, "the rollback"
    )
    assert running(log) == ["1.0.0", "2.0.0-crash", "1.0.0"]
    assert supervised.sup.stats.history == ["boot", "update", "crash"]
    status = up.status()
    assert status["running"] == "1.0.0"
    assert status["state"] == "idle"
    assert status["last_failure"]["stage"] == "probation"
    assert "crashed during its probation" in status["last_failure"]["reason"]
    faults = [(c, d.get("stage")) for k, c, d in supervised.rec.events if k is EventKind.FAULT]
    assert faults == [("SW.CRASH", None), ("SW.UPDATE_FAILED", "probation")]
    assert up.known_good() == {"b": "1.0.0"}
    time.sleep(1)  # and it stays there: no crash loop
    assert running(log) == ["1.0.0", "2.0.0-crash", "1.0.0"]


def test_good_version_is_confirmed_after_its_probation(
    root: Path, tmp_path: Path, supervised: Supervised
) -> None:
    log = tmp_path / "ran.log"
    up = SlotUpdater(root, probation_s=1, create=False)
    assert up.apply(package(tmp_path, "1.1.0")).outcome is UpdateOutcome.ON_PROBATION
    wait_until(
        lambda: any(d.get("event") == "updated" for _, _, d in supervised.rec.events),
        60,
        "the confirmation",
    )
    assert up.status()["state"] == "idle"
    assert running(log) == ["1.0.0", "1.1.0"]
    assert up.known_good() == {"a": "1.1.0", "b": "1.0.0"}
    updated = [d for k, _, d in supervised.rec.events if d.get("event") == "updated"]
    assert [d["to_version"] for d in updated] == ["1.1.0"]
    assert supervised.sup.stats.history == ["boot", "update"]
    assert not [c for k, c, _ in supervised.rec.events if k is EventKind.FAULT]


def test_power_loss_during_a_long_health_check_then_a_quick_boot(
    root: Path, tmp_path: Path
) -> None:
    """The update's check runs for 30 s; the power goes during it. At boot the watchdog does
    not rerun it: the old version serves at once, the abandoned update is reported."""
    pidfile = tmp_path / "check.pid"
    pkg = package(tmp_path, "3.0.0", check=f"echo $$ > {pidfile}\nsleep 30")
    apply = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from posguard.cli import main; main()",
            "terminal",
            "update",
            "apply",
            str(pkg),
            "--root",
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 30, "the health check")
    os.kill(apply.pid, signal.SIGKILL)  # power cut: everything dies at once
    os.killpg(int(pidfile.read_text()), signal.SIGKILL)
    apply.wait()
    assert json.loads((root / "update.json").read_text())["state"] == "checking"
    log = tmp_path / "ran.log"
    s = Supervised(root, log, startup=5)
    started = time.monotonic()
    s.thread.start()
    try:
        wait_until(lambda: running(log) == ["1.0.0"], 30, "v1.0.0 to serve")
        booted_in = time.monotonic() - started
    finally:
        s.sup.stop()
        s.thread.join(30)
    assert booted_in < 15  # not held for a 30 s check (the child's imports take the rest)
    faults = [(c, d) for k, c, d in s.rec.events if k is EventKind.FAULT]
    assert [c for c, _ in faults] == ["SW.UPDATE_FAILED"]
    assert "interrupted during its health check" in str(faults[0][1]["reason"])
    assert faults[0][1]["running"] == "1.0.0"
    assert s.sup.stats.history == ["boot"]
    status = s.updater.status()
    assert status["state"] == "idle"
    assert status["running"] == "1.0.0"
    assert not list((root / "slots").glob(".*"))


async def test_rollback_held_by_the_broker_is_not_executed_after_the_fix(
    root: Path, tmp_path: Path
) -> None:
    """The terminal crash-looped on 2.0.0; ops queued a rollback; the terminal rolled itself
    back and was fixed on site meanwhile. The held command, delivered now, must not switch to
    2.0.0 (not known good) nor act on a state that is gone."""
    rec = EventRecorder()
    up = SlotUpdater(root, emit=rec, probation_s=30, create=False)
    issued = datetime.now(UTC) - timedelta(seconds=5)
    assert up.apply(package(tmp_path, "2.0.0")).outcome is UpdateOutcome.ON_PROBATION
    up.fail_probation("crashed during its probation")
    assert up.version() == "1.0.0"
    dispatcher = CommandDispatcher(tmp_path / "commands.db", command_handlers(updater=up), rec)
    try:
        result = await dispatcher.handle(
            {"command_id": "rb-1", "name": "rollback", "args": {}, "issued_at": issued.isoformat()}
        )
        fresh = await dispatcher.handle(
            {"command_id": "rb-2", "name": "rollback", "issued_at": datetime.now(UTC).isoformat()}
        )
    finally:
        dispatcher.close()
    assert result.status is CommandStatus.FAILED
    assert "no longer applies" in result.detail
    assert fresh.status is CommandStatus.FAILED  # even when fresh: 2.0.0 is not known good
    assert "not known good" in fresh.detail
    assert up.version() == "1.0.0"
    acks = [d for k, _, d in rec.events if k is EventKind.COMMAND_RESULT]
    assert [a["status"] for a in acks] == ["failed", "failed"]


def test_version_freezing_within_its_probation_is_rolled_back(
    root: Path, tmp_path: Path, supervised: Supervised
) -> None:
    log = tmp_path / "ran.log"
    up = SlotUpdater(root, probation_s=30, create=False)
    assert up.apply(package(tmp_path, "2.1.0-hang")).outcome is UpdateOutcome.ON_PROBATION
    wait_until(lambda: len(running(log)) == 3, 60, "the rollback")
    assert running(log) == ["1.0.0", "2.1.0-hang", "1.0.0"]
    assert supervised.sup.stats.history == ["boot", "update", "freeze"]
    faults = [(c, d.get("stage")) for k, c, d in supervised.rec.events if k is EventKind.FAULT]
    assert faults == [("DEV.FREEZE", None), ("SW.UPDATE_FAILED", "probation")]
    assert "froze during its probation" in up.status()["last_failure"]["reason"]


async def test_remote_rollback_restarts_the_service_as_an_update_does(
    root: Path, tmp_path: Path
) -> None:
    """A rollback that moved ``current`` restarts the service (the ``reboot`` part, after the
    answer is stored), so the version rolled back to is what runs; a refused one does not."""
    rec = EventRecorder()
    up = SlotUpdater(root, emit=rec, probation_s=30, create=False)
    assert up.apply(package(tmp_path, "2.0.0")).outcome is UpdateOutcome.ON_PROBATION
    assert up.confirm() is not None  # 2.0.0 known good beside 1.0.0
    restarted = threading.Event()
    handlers = command_handlers(updater=up, reboot=restarted.set, reboot_delay=0.05)
    dispatcher = CommandDispatcher(tmp_path / "commands.db", handlers, rec)
    try:
        done = await dispatcher.handle({"command_id": "rb-ok", "name": "rollback"})
        for _ in range(100):
            if restarted.is_set():
                break
            await asyncio.sleep(0.02)
        assert restarted.is_set(), "the rollback did not restart the service"
        restarted.clear()
        refused = await dispatcher.handle(  # issued before the switch it would undo
            {
                "command_id": "rb-late",
                "name": "rollback",
                "issued_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            }
        )
        await asyncio.sleep(0.2)
    finally:
        dispatcher.close()
    assert done.status is CommandStatus.OK
    assert done.detail == "slot b now holds 1.0.0: restarting in 0.05 s"
    assert up.version() == "1.0.0"
    assert refused.status is CommandStatus.FAILED
    assert not restarted.is_set()
