"""The watchdog with real child processes: a hang is detected, reported, restarted and resumed."""

from __future__ import annotations

import os
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from posguard.common.events import EventKind
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.printer.testing import sample_receipt
from posguard.terminal.testing import EventRecorder
from posguard.terminal.watchdog import Heartbeat, StartReason, Supervisor, run_supervised

RECEIPT = sample_receipt(
    merchant_name="Watchdog Mart",
    amount_minor=880,
    stan="000042",
    rrn="332910000042",
    auth_code="123456",
    ts=datetime(2026, 11, 25, 12, 0, 0),
)

CHILD = textwrap.dedent(
    """
    import os, signal, sys, time, pathlib
    from posguard.terminal.printer.ports import FilePort
    from posguard.terminal.printer.profiles import load_profile
    from posguard.terminal.printer.queue import PrintQueue
    from posguard.terminal.printer.receipt import ReceiptData
    from posguard.terminal.printer.renderer import ReceiptRenderer
    from posguard.terminal.watchdog import run_supervised

    work = pathlib.Path(sys.argv[1])
    mode = sys.argv[2]
    renderer = ReceiptRenderer(load_profile("generic-58-gbk"))

    def queue():
        return PrintQueue(work / "print.db", FilePort(work / "paper.bin"), renderer)

    def resume(reason):
        with open(work / "log", "a") as f:
            f.write(f"resume {reason.value} {os.getpid()}\\n")
        q = queue()
        q.process()  # pending receipts go out first thing
        q.close()

    def main(hb):
        first = os.environ["POSGUARD_RESTARTS"] == "0"
        if first:
            q = queue()
            q.enqueue(ReceiptData.from_json((work / "receipt.json").read_text()))
            q.close()
            for _ in range(3):
                hb.beat()
                time.sleep(0.05)
            if mode == "hang":
                signal.signal(signal.SIGTERM, signal.SIG_IGN)  # hung so hard it ignores SIGTERM
                while True:
                    time.sleep(1)
            sys.exit(3)  # mode == "crash"
        for _ in range(4):
            hb.beat()
            time.sleep(0.05)
        return 0

    sys.exit(run_supervised(main, resume))
    """
)


def _setup(tmp_path: Path) -> Path:
    (tmp_path / "child.py").write_text(CHILD)
    (tmp_path / "receipt.json").write_text(RECEIPT.to_json())
    return tmp_path / "child.py"


def test_hung_child_is_reported_killed_restarted_and_resumes_its_print_job(tmp_path: Path) -> None:
    script = _setup(tmp_path)
    rec = EventRecorder()
    sup = Supervisor(
        [sys.executable, str(script), str(tmp_path), "hang"],
        interval=0.2,
        missed=3,
        grace=0.5,
        startup=30,
        emit=rec,
        restart_backoff=0.05,
    )
    stats = sup.run()
    assert stats.history == ["boot", "freeze"]
    assert stats.freezes == 1
    assert stats.exit_code == 0
    faults = [(k, c) for k, c, _ in rec.events if k in (EventKind.FAULT, EventKind.FAULT_CLEARED)]
    assert faults == [(EventKind.FAULT, "DEV.FREEZE"), (EventKind.FAULT_CLEARED, "DEV.FREEZE")]
    freeze = next(d for k, c, d in rec.events if c == "DEV.FREEZE" and k is EventKind.FAULT)
    assert freeze["silent_s"] >= 0.6
    log = (tmp_path / "log").read_text().split("\n")
    assert [line.split()[1] for line in log if line] == ["boot", "freeze"]
    first_pid = int(log[0].split()[2])
    with pytest.raises(ProcessLookupError):
        os.kill(first_pid, 0)  # the hung process is really gone (it ignored SIGTERM: SIGKILL)
    renderer = ReceiptRenderer(load_profile("generic-58-gbk"))
    assert (tmp_path / "paper.bin").read_bytes() == renderer.render(RECEIPT)  # printed once


def test_crashed_child_is_reported_as_sw_crash_and_restarted(tmp_path: Path) -> None:
    script = _setup(tmp_path)
    rec = EventRecorder()
    sup = Supervisor(
        [sys.executable, str(script), str(tmp_path), "crash"],
        interval=0.5,
        missed=3,
        grace=0.5,
        startup=30,
        emit=rec,
        restart_backoff=0.05,
    )
    stats = sup.run()
    assert stats.history == ["boot", "crash"]
    crash = [(c, d) for k, c, d in rec.events if k is EventKind.FAULT]
    assert crash == [("SW.CRASH", {"exit_code": 3})]
    assert [c for k, c, _ in rec.events if k is EventKind.FAULT_CLEARED] == ["SW.CRASH"]
    assert (tmp_path / "paper.bin").exists()


def test_supervisor_gives_up_after_max_restarts(tmp_path: Path) -> None:
    rec = EventRecorder()
    sup = Supervisor(
        [sys.executable, "-c", "import sys; sys.exit(7)"],
        interval=0.5,
        emit=rec,
        max_restarts=2,
        restart_backoff=0.01,
    )
    stats = sup.run()
    assert stats.starts == 3
    assert stats.crashes == 3
    assert any(d.get("event") == "supervisor_gave_up" for _, _, d in rec.events)


def test_unsupervised_heartbeat_is_a_noop_and_resume_runs_first() -> None:
    order: list[str] = []
    hb = Heartbeat.from_env({})
    assert not hb.supervised

    def main(h: Heartbeat) -> str:
        order.append(f"main beats={h.beats}")
        return "done"

    result = run_supervised(main, lambda reason: order.append(f"resume {reason.value}"), {})
    assert result == "done"
    assert order == ["resume boot", "main beats=2"]  # marked resuming, then back to normal
    assert run_supervised(
        main, lambda r: order.append(r.value), {"POSGUARD_START_REASON": "freeze"}
    )
    assert order[-2] == StartReason.FREEZE.value


def test_requested_restart_is_not_a_crash(tmp_path: Path) -> None:
    flag = tmp_path / "rebooted"
    child = (
        "import os, sys, pathlib\n"
        f"p = pathlib.Path({str(flag)!r})\n"
        "if p.exists():\n"
        "    assert os.environ['POSGUARD_START_REASON'] == 'reboot'\n"
        "    sys.exit(0)\n"
        "p.write_text('x')\n"
        "sys.exit(75)  # RESTART_EXIT_CODE: a remote reboot\n"
    )
    rec = EventRecorder()
    sup = Supervisor([sys.executable, "-c", child], interval=0.5, emit=rec, restart_backoff=0.01)
    stats = sup.run()
    assert stats.history == ["boot", "reboot"]
    assert stats.exit_code == 0
    assert stats.crashes == 0
    assert [c for k, c, _ in rec.events if k in (EventKind.FAULT, EventKind.FAULT_CLEARED)] == []
