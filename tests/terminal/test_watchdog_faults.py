"""The watchdog under its own faults, with real processes and signals: a locked outbox, a crash
loop, a killed supervisor, a child killed behind its back, the backoff after a healthy run."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from posguard.common.events import EventKind
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.supervise_events import SupervisorEvents
from posguard.terminal.testing import LAB_MID, LAB_TID, EventRecorder
from posguard.terminal.watchdog import Supervisor

from .service_rig import CLI, outbox_events, process_alive, wait_until

# a runtime that crashes on its first start (exit 3) and then runs, beating, until killed
CRASH_THEN_RUN = textwrap.dedent(
    """
    import os, sys, time
    from posguard.terminal.watchdog import run_supervised

    def main(hb):
        if os.environ["POSGUARD_RESTARTS"] == "0":
            sys.exit(3)
        with open(sys.argv[1], "a") as f:
            f.write(f"{os.getpid()}\\n")
        while True:
            hb.beat()
            time.sleep(0.05)

    run_supervised(main, lambda reason: None)
    """
)


def test_supervisor_keeps_supervising_while_its_outbox_is_locked(tmp_path: Path) -> None:
    """Another process holds the outbox's write lock: every write waits 5 s and fails. The
    supervisor still restarts the crashed runtime at once, and stores the events later."""
    outbox = tmp_path / "outbox.db"
    Outbox(outbox, LAB_TID, LAB_MID).close()
    locker = sqlite3.connect(outbox, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # the outbox is locked from here
    script = tmp_path / "child.py"
    script.write_text(CRASH_THEN_RUN)
    pids = tmp_path / "pids"
    events = SupervisorEvents(outbox, LAB_TID, LAB_MID, retry_s=0.1)
    calls: list[tuple[float, str]] = []

    def emit(kind: EventKind, code: str | None = None, **data: object) -> object:
        calls.append((time.monotonic(), code or str(data.get("event"))))
        return events(kind, code, **data)

    sup = Supervisor(
        [sys.executable, str(script), str(pids)],
        interval=0.2,
        missed=5,
        grace=1,
        emit=emit,
        restart_backoff=0.05,
    )
    runner = threading.Thread(target=sup.run)
    runner.start()
    try:
        wait_until(lambda: pids.exists() and pids.read_text(), 30, "the restarted runtime")
        assert [what for _, what in calls[:3]] == ["start", "SW.CRASH", "start"]
        assert calls[2][0] - calls[1][0] < 1.0  # not held up by a 5 s lock wait per event
        assert events.stored == 0  # nothing could be written yet...
        wait_until(lambda: events.failures >= 1, 20, "a write to fail on the lock")
        assert runner.is_alive()
        locker.execute("ROLLBACK")  # ...until the lock goes
        locker.close()
        wait_until(lambda: events.flush(0.1), 20, "the queued events to be stored")
    finally:
        sup.stop()
        runner.join(30)
        events.close()
    assert not runner.is_alive()
    assert sup.stats.history == ["boot", "crash"]
    stored = outbox_events(outbox)
    assert [(e.kind, e.code) for e in stored if e.kind is EventKind.FAULT] == [
        (EventKind.FAULT, "SW.CRASH")
    ]
    assert [e.data["event"] for e in stored if e.kind is EventKind.LIFECYCLE] == ["start", "start"]


def test_supervisor_survives_an_emit_hook_that_raises(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CRASH_THEN_RUN)
    pids = tmp_path / "pids"

    def broken(kind: EventKind, code: str | None = None, **data: object) -> object:
        raise OSError("disk full")

    sup = Supervisor(
        [sys.executable, str(script), str(pids)], interval=0.2, emit=broken, restart_backoff=0.05
    )
    runner = threading.Thread(target=sup.run)
    runner.start()
    try:
        wait_until(lambda: pids.exists() and pids.read_text(), 10, "the restarted runtime")
    finally:
        sup.stop()
        runner.join(30)
    assert sup.stats.history == ["boot", "crash"]
    assert sup.stats.emit_failures >= 3  # start, SW.CRASH, start: each failed and logged


def test_crash_loop_ends_in_a_final_state_with_a_message(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.db"
    proc = subprocess.run(
        [
            *CLI,
            "terminal",
            "supervise",
            "--lang",
            "en",
            "--outbox",
            str(outbox),
            "--terminal-id",
            LAB_TID,
            "--merchant-id",
            LAB_MID,
            "--interval",
            "0.2",
            "--crash-limit",
            "3",
            "--crash-window",
            "60",
            "--backoff",
            "0.05",
            "--",
            sys.executable,
            "-c",
            "import sys; sys.exit(5)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert "no longer restarted" in proc.stderr
    assert "已停止自动重启" in proc.stderr
    assert "stopped: crash_loop" in proc.stdout
    events = outbox_events(outbox)
    faults = [e.code for e in events if e.kind is EventKind.FAULT]
    assert faults == ["SW.CRASH"] * 3 + ["SW.CRASH_LOOP"]
    loop = next(e for e in events if e.code == "SW.CRASH_LOOP")
    assert loop.data["failures"] == 3
    assert loop.data["exit_code"] == 5


def test_backoff_starts_again_after_a_healthy_run() -> None:
    """Each start runs healthy for 0.6 s, then crashes (the 4th stops cleanly). With the reset
    every restart waits the first delay (0.3 s), not 0.3, 0.6, 1.2 s; and ``max_restarts=1``
    counts restarts *in a row*, so these never add up to giving up."""
    child = (
        "import os, time\n"
        "from posguard.terminal.watchdog import run_supervised\n"
        "def main(hb):\n"
        "    end = time.monotonic() + 0.6\n"
        "    while time.monotonic() < end:\n"
        "        hb.beat(); time.sleep(0.05)\n"
        "    raise SystemExit(0 if os.environ['POSGUARD_RESTARTS'] == '3' else 4)\n"
        "run_supervised(main, lambda r: None)\n"
    )
    stamps: list[tuple[float, str]] = []

    def emit(kind: EventKind, code: str | None = None, **data: object) -> object:
        if kind is not EventKind.FAULT_CLEARED:
            stamps.append((time.monotonic(), code or str(data.get("event"))))
        return None

    sup = Supervisor(
        [sys.executable, "-c", child],
        interval=0.1,
        missed=5,
        emit=emit,
        restart_backoff=0.3,
        healthy_s=0.4,
        crash_limit=None,
        max_restarts=1,
    )
    stats = sup.run()
    assert stats.crashes == 3
    assert stats.final is None
    assert stats.history == ["boot", "crash", "crash", "crash"]
    gaps = [later[0] - t for (t, what), later in itertools.pairwise(stamps) if what == "SW.CRASH"]
    assert len(gaps) == 3
    assert all(0.25 <= g < 0.9 for g in gaps), gaps  # 1.2 s on the third without the reset


def _supervise(script: Path, pids: Path) -> list[str]:
    """``posguard terminal supervise`` (English, 0.05 s back-off) of ``script``, which writes
    each start's pid to ``pids``."""
    cmd = ["terminal", "supervise", "--lang", "en", "--backoff", "0.05", "--"]
    return [*CLI, *cmd, sys.executable, str(script), str(pids)]


def test_killed_supervisor_takes_its_runtime_with_it(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CRASH_THEN_RUN)
    pids = tmp_path / "pids"
    sup = subprocess.Popen(_supervise(script, pids), stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: pids.exists() and pids.read_text(), 30, "the runtime")
        child = int(pids.read_text().split()[0])
        assert process_alive(child)
        os.kill(sup.pid, signal.SIGKILL)
        sup.wait(10)
        wait_until(lambda: not process_alive(child), 5, "the orphaned runtime to die")
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()


def test_runtime_killed_behind_the_supervisors_back_is_a_crash_and_restarted(
    tmp_path: Path,
) -> None:
    script = tmp_path / "child.py"
    script.write_text(CRASH_THEN_RUN.replace('== "0"', '== "-1"'))  # never crashes by itself
    pids = tmp_path / "pids"
    rec = EventRecorder()
    sup = Supervisor(
        [sys.executable, str(script), str(pids)], interval=0.2, emit=rec, restart_backoff=0.05
    )
    runner = threading.Thread(target=sup.run)
    runner.start()
    try:
        wait_until(lambda: pids.exists() and pids.read_text(), 10, "the runtime")
        os.kill(int(pids.read_text().split()[0]), signal.SIGTERM)  # to the child alone
        wait_until(lambda: len(pids.read_text().split()) == 2, 10, "the restarted runtime")
    finally:
        sup.stop()
        runner.join(30)
    crash = [(c, d) for k, c, d in rec.events if k is EventKind.FAULT]
    assert crash == [("SW.CRASH", {"exit_code": -15, "signal": "SIGTERM"})]
    assert sup.stats.supervisor_exit_code == 0  # a clean stop after an earlier crash


def test_clean_stop_after_a_crash_exits_0(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CRASH_THEN_RUN)
    pids = tmp_path / "pids"
    sup = subprocess.Popen(
        _supervise(script, pids),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: pids.exists() and pids.read_text(), 30, "the restarted runtime")
    sup.send_signal(signal.SIGTERM)
    out, err = sup.communicate(timeout=30)
    assert sup.returncode == 0, err
    assert "1 crash(es)" in out
    assert "no --config or --outbox" in err  # says the fleet will not hear of faults


BLOCKED_LOOP = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from posguard.terminal.service import beat_forever
    from posguard.terminal.watchdog import run_supervised

    async def serve(hb):
        beating = asyncio.create_task(beat_forever(hb))
        reader = asyncio.create_task(asyncio.sleep(3))  # I/O in flight: beats go on
        await reader
        if os.environ["POSGUARD_RESTARTS"] == "0":
            time.sleep(30)  # a blocking call on the loop: no beat can be sent
        beating.cancel()
        return 0

    sys.exit(run_supervised(lambda hb: asyncio.run(serve(hb)), lambda reason: None))
    """
)


def test_a_blocked_event_loop_is_a_freeze_and_waiting_io_is_not() -> None:
    rec = EventRecorder()
    sup = Supervisor(
        [sys.executable, "-c", BLOCKED_LOOP],
        interval=0.2,
        missed=5,
        grace=0.5,
        emit=rec,
        restart_backoff=0.05,
    )
    stats = sup.run()
    assert stats.history == ["boot", "freeze"]  # the 3 s wait did not count, the block did
    assert stats.freezes == 1
    assert stats.supervisor_exit_code == 0
    freeze = next(d for k, c, d in rec.events if c == "DEV.FREEZE" and k is EventKind.FAULT)
    assert freeze["before_first_beat"] is False
    assert 1.0 <= freeze["silent_s"] < 5


def test_a_command_that_cannot_start_ends_in_the_crash_loop_state(tmp_path: Path) -> None:
    rec = EventRecorder()
    sup = Supervisor(
        [str(tmp_path / "no-such-runtime")],
        interval=0.2,
        emit=rec,
        restart_backoff=0.01,
        crash_limit=3,
    )
    stats = sup.run()
    assert stats.final == "crash_loop"
    assert stats.supervisor_exit_code == 3
    faults = [(c, d) for k, c, d in rec.events if k is EventKind.FAULT]
    assert [c for c, _ in faults] == ["SW.CRASH"] * 3 + ["SW.CRASH_LOOP"]
    assert "cannot start" in str(faults[0][1]["detail"])


LONG_RESUME = textwrap.dedent(
    """
    import os, sys, time
    from posguard.terminal.watchdog import run_supervised

    def resume(reason):
        time.sleep(float(sys.argv[1]))  # a long journal recovery, the loop blocked

    def main(hb):
        for _ in range(10):
            hb.beat()
            time.sleep(0.05)
        return 0

    sys.exit(run_supervised(main, resume))
    """
)


def test_recovery_runs_under_the_startup_deadline_not_the_missed_beats() -> None:
    """hang_after is 1 s; a 3 s recovery (after the first beat) is not a freeze, because the
    child says it is resuming and the startup deadline (6 s) applies; one of 20 s is."""
    results = {}
    for seconds in (3, 20):
        rec = EventRecorder()
        sup = Supervisor(
            [sys.executable, "-c", LONG_RESUME, str(seconds)],
            interval=0.2,
            missed=5,
            startup=6,
            grace=0.5,
            emit=rec,
            max_restarts=0,
        )
        results[seconds] = sup.run()
    assert results[3].history == ["boot"]
    assert results[3].freezes == 0
    assert results[20].freezes == 1  # recovery hung past its deadline is still caught
