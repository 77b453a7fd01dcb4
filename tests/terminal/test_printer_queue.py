"""The durable print queue: faults keep jobs, recovery prints them, restarts lose nothing."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

from posguard.common.events import EventKind
from posguard.terminal.printer.ports import DummyPort, NetworkPort
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.printer.queue import JobState, PrintQueue, PrintWorker
from posguard.terminal.printer.receipt import ReceiptData
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.printer.status import PrinterStatus
from posguard.terminal.printer.testing import running_printer, sample_receipt
from posguard.terminal.testing import EventRecorder

RECEIPT = sample_receipt(
    merchant_name="测试商户",
    entry_mode="contactless",
    amount_minor=100,
    stan="000001",
    rrn="332910000001",
    auth_code="000001",
    ts=datetime(2026, 11, 25, 9, 0, 0),
)
RENDERER = ReceiptRenderer(load_profile("generic-58-gbk"))
REPRINT_MARK = "重打印 REPRINT".encode("gbk")


def receipt(stan: int) -> ReceiptData:
    return dataclasses.replace(RECEIPT, stan=f"{stan:06d}", rrn=f"3329100{stan:05d}")


def test_prints_in_order_when_the_printer_is_ready(tmp_path: Path) -> None:
    port = DummyPort()
    q = PrintQueue(tmp_path / "print.db", port, RENDERER)
    ids = [q.print_receipt(receipt(i)) for i in (1, 2, 3)]
    assert ids == sorted(ids)
    assert port.output == b"".join(RENDERER.render(receipt(i)) for i in (1, 2, 3))
    assert q.pending() == []
    job = q.job(ids[0])
    assert job is not None
    assert job.state is JobState.PRINTED


def test_paper_out_keeps_jobs_emits_fault_then_prints_and_clears(tmp_path: Path) -> None:
    port = DummyPort(PrinterStatus.PAPER_OUT)
    rec = EventRecorder()
    q = PrintQueue(tmp_path / "print.db", port, RENDERER, rec)
    q.print_receipt(receipt(1))
    q.print_receipt(receipt(2))
    assert port.output == b""
    assert [j.receipt.stan for j in q.pending()] == ["000001", "000002"]
    assert rec.codes(EventKind.FAULT) == ["PRN.PAPER_OUT"]  # once, not once per job
    port.state = PrinterStatus.OK
    result = q.process()
    assert result.printed == 2
    assert result.pending == 0
    assert port.output == RENDERER.render(receipt(1)) + RENDERER.render(receipt(2))
    assert rec.codes(EventKind.FAULT_CLEARED) == ["PRN.PAPER_OUT"]
    assert [d["state"] for k, _, d in rec.events if k is EventKind.PRINTER] == ["paper_out", "ok"]


def test_hardware_fault_keeps_jobs_reports_once_and_clears_after_repair(tmp_path: Path) -> None:
    with running_printer(PrinterStatus.HARDWARE_FAULT) as printer:
        port = NetworkPort(printer.host, printer.port, timeout=0.5)
        rec = EventRecorder()
        q = PrintQueue(tmp_path / "print.db", port, RENDERER, rec)
        q.print_receipt(receipt(1))
        q.print_receipt(receipt(2))
        q.process()
        assert printer.printed() == b""
        assert [j.receipt.stan for j in q.pending()] == ["000001", "000002"]
        assert rec.codes(EventKind.FAULT) == ["PRN.HARDWARE_FAULT"]  # once, not per job/pass
        faults = [d for k, _, d in rec.events if k is EventKind.FAULT]
        assert faults[0]["state"] == "hardware_fault"
        assert faults[0]["pending_jobs"] == 1  # the first slip was queued when it was seen
        printer.set_state(PrinterStatus.OK)  # printer repaired or swapped
        result = q.process()
        assert result.printed == 2
        assert printer.printed() == RENDERER.render(receipt(1)) + RENDERER.render(receipt(2))
        assert rec.codes(EventKind.FAULT_CLEARED) == ["PRN.HARDWARE_FAULT"]
        q.close()


def test_paper_low_prints_but_is_reported(tmp_path: Path) -> None:
    port = DummyPort(PrinterStatus.PAPER_LOW)
    rec = EventRecorder()
    q = PrintQueue(tmp_path / "print.db", port, RENDERER, rec)
    q.print_receipt(receipt(1))
    assert port.output == RENDERER.render(receipt(1))
    assert rec.codes(EventKind.FAULT) == ["PRN.PAPER_LOW"]


def test_jobs_survive_a_restart_and_the_fault_is_not_reported_twice(tmp_path: Path) -> None:
    db = tmp_path / "print.db"
    rec = EventRecorder()
    q = PrintQueue(db, DummyPort(PrinterStatus.COVER_OPEN), RENDERER, rec)
    q.print_receipt(receipt(7))
    q.close()
    port = DummyPort(PrinterStatus.COVER_OPEN)
    rec2 = EventRecorder()
    q2 = PrintQueue(db, port, RENDERER, rec2)
    q2.process()
    assert rec2.codes(EventKind.FAULT) == []  # already open since before the restart
    port.state = PrinterStatus.OK
    q2.process()
    assert port.output == RENDERER.render(receipt(7))  # printed once, not a reprint
    assert rec2.codes(EventKind.FAULT_CLEARED) == ["PRN.COVER_OPEN"]


def test_reprint_last_works_with_and_without_a_printer(tmp_path: Path) -> None:
    port = DummyPort()
    q = PrintQueue(tmp_path / "print.db", port, RENDERER)
    assert q.reprint_last() is None
    q.print_receipt(receipt(1))
    q.print_receipt(receipt(2))
    port.clear()
    port.state = PrinterStatus.OFFLINE
    job_id = q.reprint_last()
    assert job_id is not None
    assert port.output == b""
    pending = q.pending()
    assert len(pending) == 1
    assert pending[0].receipt.stan == "000002"
    assert pending[0].receipt.reprint
    port.state = PrinterStatus.OK
    q.process()
    assert port.output == RENDERER.render(receipt(2).as_reprint())
    assert REPRINT_MARK in port.output
    port.clear()
    q.reprint_last(copy="cardholder")  # the last original, not the reprint of it
    assert "持卡人存根".encode("gbk") in port.output
    assert b"000002" in port.output


def test_failed_send_is_retried_marked_reprint(tmp_path: Path) -> None:
    with running_printer() as printer:
        port = NetworkPort(printer.host, printer.port, timeout=0.3)
        rec = EventRecorder()
        q = PrintQueue(tmp_path / "print.db", port, RENDERER, rec)
        printer.stop()  # printer unplugged
        q.print_receipt(receipt(3))
        assert len(q.pending()) == 1
        assert rec.codes(EventKind.FAULT) == ["PRN.OFFLINE"]
        q.close()


def test_printer_fault_over_tcp_then_recovery_prints_everything(tmp_path: Path) -> None:
    with running_printer(PrinterStatus.PAPER_OUT) as printer:
        port = NetworkPort(printer.host, printer.port, timeout=0.5)
        rec = EventRecorder()
        q = PrintQueue(tmp_path / "print.db", port, RENDERER, rec)
        for i in range(1, 4):
            q.print_receipt(receipt(i))
        assert printer.printed() == b""
        assert rec.codes(EventKind.FAULT) == ["PRN.PAPER_OUT"]
        printer.set_state(PrinterStatus.OK)
        worker = PrintWorker(q, interval=0.05)
        worker.start()
        want = b"".join(RENDERER.render(receipt(i)) for i in range(1, 4))
        deadline = time.monotonic() + 5
        while printer.printed() != want and time.monotonic() < deadline:
            time.sleep(0.02)
        worker.stop()
        assert printer.printed() == want
        assert q.pending() == []
        assert rec.codes(EventKind.FAULT_CLEARED) == ["PRN.PAPER_OUT"]
        q.close()


def test_wrong_profile_is_reported_once_and_cleared(tmp_path: Path) -> None:
    with running_printer(model_name="TM-T88V", model_id=0x20) as printer:
        rec = EventRecorder()
        port = NetworkPort(printer.host, printer.port, timeout=0.3)
        q = PrintQueue(tmp_path / "p.db", port, ReceiptRenderer(load_profile("gprinter-gp58")), rec)
        assert not q.verify_profile().matches
        assert not q.verify_profile().matches
        assert rec.codes(EventKind.FAULT) == ["PRN.WRONG_PROFILE"]
        q.renderer = ReceiptRenderer(load_profile("epson-tm-t88v-cn"))
        assert q.verify_profile().matches
        assert rec.codes(EventKind.FAULT_CLEARED) == ["PRN.WRONG_PROFILE"]
        q.close()


CRASHING_CHILD = textwrap.dedent(
    """
    import os, sys
    from posguard.terminal.printer.ports import FilePort
    from posguard.terminal.printer.profiles import load_profile
    from posguard.terminal.printer.queue import PrintQueue
    from posguard.terminal.printer.receipt import ReceiptData
    from posguard.terminal.printer.renderer import ReceiptRenderer

    class CrashAfterSend(FilePort):
        def send(self, data):
            super().send(data)
            self.close()
            os._exit(9)  # power cut after the bytes went out, before the job is marked

    renderer = ReceiptRenderer(load_profile("generic-58-gbk"))
    q = PrintQueue(sys.argv[1], CrashAfterSend(sys.argv[2]), renderer)
    q.print_receipt(ReceiptData.from_json(sys.argv[3]))
    """
)


def test_crash_between_send_and_mark_prints_again_as_reprint(tmp_path: Path) -> None:
    db, paper = tmp_path / "print.db", tmp_path / "paper.bin"
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_CHILD, str(db), str(paper), receipt(5).to_json()],
        timeout=60,
        check=False,
    )
    assert proc.returncode == 9
    assert paper.read_bytes() == RENDERER.render(receipt(5))  # the first copy did come out
    port = DummyPort()
    q = PrintQueue(db, port, RENDERER)
    assert q.recovered == 1
    q.process()
    assert port.output == RENDERER.render(receipt(5).as_reprint())  # at-least-once, marked
    assert REPRINT_MARK in port.output
    assert q.pending() == []


def test_enqueue_refuses_a_broken_receipt_and_leaves_nothing(tmp_path: Path) -> None:
    q = PrintQueue(tmp_path / "print.db", DummyPort(), RENDERER)
    with pytest.raises(ValueError, match="masked_pan"):
        q.enqueue(dataclasses.replace(RECEIPT, masked_pan="4111111111111111"))
    assert q.pending() == []
    assert q.reprint_last() is None


def test_with_a_worker_the_sale_never_waits_for_a_dead_printer(tmp_path: Path) -> None:
    with running_printer() as printer:
        port = NetworkPort(printer.host, printer.port, timeout=1.0)
        q = PrintQueue(tmp_path / "print.db", port, RENDERER)
        printer.silent = True  # every status query will wait the full second
        worker = PrintWorker(q, interval=0.05)
        worker.start()
        t0 = time.monotonic()
        q.print_receipt(receipt(1))
        q.print_receipt(receipt(2))
        assert time.monotonic() - t0 < 0.5  # stored and handed over, not printed inline
        printer.silent = False
        deadline = time.monotonic() + 5
        while q.pending() and time.monotonic() < deadline:
            time.sleep(0.02)
        worker.stop()
        assert q.pending() == []
        q.close()


def test_full_storage_is_a_named_error_and_keeps_what_was_stored(tmp_path: Path) -> None:
    from posguard.terminal.printer.queue import PrintQueueError

    q = PrintQueue(tmp_path / "print.db", DummyPort(PrinterStatus.PAPER_OUT), RENDERER)
    q.enqueue(receipt(1))
    pages = q._db.execute("PRAGMA page_count").fetchone()[0]
    q._db.execute(f"PRAGMA max_page_count={pages + 1}")  # the disk is (nearly) full
    errors: list[PrintQueueError] = []
    for i in range(2, 200):
        try:
            q.enqueue(receipt(i))
        except PrintQueueError as exc:
            errors.append(exc)
            break
    assert errors
    assert errors[0].code == "SW.STORAGE_FULL"
    stored = [j.receipt.stan for j in q.pending()]
    assert stored[0] == "000001"
    assert stored == [f"{i:06d}" for i in range(1, len(stored) + 1)]  # no torn or missing row
