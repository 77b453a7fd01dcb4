"""SIGKILL at random points while a queue prints: after the restarts every receipt has come out
whole at least once, and no receipt has two whole copies without the REPRINT marker."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

from posguard.terminal.printer.ports import DummyPort
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.printer.queue import PrintQueue
from posguard.terminal.printer.receipt import ReceiptData
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.printer.testing import sample_receipt

N = 40
RENDERER = ReceiptRenderer(load_profile("generic-58-gbk"))
BASE = sample_receipt(
    merchant_name="Crash Mart",
    amount_minor=100,
    stan="000001",
    rrn="332910000001",
    auth_code="000001",
    ts=datetime(2026, 11, 25, 9, 0, 0),
)

CHILD = textwrap.dedent(
    """
    import sys, time
    from posguard.terminal.printer.ports import FilePort
    from posguard.terminal.printer.profiles import load_profile
    from posguard.terminal.printer.queue import PrintQueue
    from posguard.terminal.printer.renderer import ReceiptRenderer

    class SlowPaper(FilePort):
        def send(self, data):  # a slow printer: a kill can land in the middle of a slip
            half = len(data) // 2
            super().send(data[:half])
            time.sleep(0.01)
            super().send(data[half:])

    renderer = ReceiptRenderer(load_profile("generic-58-gbk"))
    q = PrintQueue(sys.argv[1], SlowPaper(sys.argv[2]), renderer)
    print("ready", flush=True)
    while q.pending():
        q.process(max_jobs=1)
    print("done", flush=True)
    """
)


def _pending(db: Path) -> int:
    q = PrintQueue(db, DummyPort(), RENDERER)
    try:
        return len(q.pending())
    finally:
        q.close()


def _with_stan(i: int) -> ReceiptData:
    import dataclasses

    return dataclasses.replace(BASE, stan=f"{i:06d}", rrn=f"3329100{i:05d}")


def test_random_kills_lose_no_receipt_and_mark_every_second_copy(tmp_path: Path) -> None:
    db, paper = tmp_path / "print.db", tmp_path / "paper.bin"
    q = PrintQueue(db, DummyPort(), RENDERER)
    for i in range(1, N + 1):
        q.enqueue(_with_stan(i))
    q.close()
    rng = random.Random(20261125)
    kills = 0
    for _ in range(60):  # bounded: each round either finishes or is killed
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db), str(paper)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.25))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            if proc.returncode == -signal.SIGKILL:
                kills += 1
                continue
        proc.wait(10)
        if _pending(db) == 0:
            break
    assert kills >= 3
    assert _pending(db) == 0
    out = paper.read_bytes()
    whole_plain = {i: out.count(RENDERER.render(_with_stan(i))) for i in range(1, N + 1)}
    whole_reprint = {
        i: out.count(RENDERER.render(_with_stan(i).as_reprint())) for i in range(1, N + 1)
    }
    for i in range(1, N + 1):
        assert whole_plain[i] + whole_reprint[i] >= 1, f"receipt {i} never came out whole"
        assert whole_plain[i] <= 1, f"receipt {i} printed twice without the REPRINT marker"
    reprinted = sum(1 for i in whole_reprint if whole_reprint[i])
    print(f"kills={kills} reprinted={reprinted} of {N}")
