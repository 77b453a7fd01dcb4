"""A serial (UART) printer through pyserial on a real pseudo-terminal: status, printing, profile."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from posguard.common.events import EventKind
from posguard.terminal.printer.ports import SerialPort
from posguard.terminal.printer.profiles import check_profile, load_profile
from posguard.terminal.printer.queue import PrintQueue
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.printer.status import PrinterStatus
from posguard.terminal.printer.testing import running_serial_printer, sample_receipt

RECEIPT = sample_receipt(
    merchant_name="串口商户",
    txn_type="refund",
    entry_mode="swipe",
    amount_minor=5000,
    batch="000002",
    stan="000456",
    rrn="332910000456",
    auth_code="",
    ts=datetime(2026, 11, 25, 18, 0, 0),
    original="332910000123",
)


def test_serial_status_follows_the_printer() -> None:
    with running_serial_printer(PrinterStatus.COVER_OPEN) as printer:
        port = SerialPort(printer.device, 115200, timeout=0.5)
        try:
            t0 = time.monotonic()
            assert port.status() is PrinterStatus.COVER_OPEN
            assert time.monotonic() - t0 < 1.5  # one byte per query, no 16-byte wait
            printer.set_state(PrinterStatus.OK)
            assert port.status() is PrinterStatus.OK
            printer.silent = True
            assert port.status() is PrinterStatus.OFFLINE  # a silent line is no printer
        finally:
            port.close()


def test_serial_queue_prints_after_the_cover_is_closed(tmp_path: Path) -> None:
    events: list[tuple[EventKind, str | None]] = []
    renderer = ReceiptRenderer(load_profile("gprinter-gp58"))
    with running_serial_printer(PrinterStatus.COVER_OPEN, model_name="GP-58") as printer:
        port = SerialPort(printer.device, 115200, timeout=0.5)
        q = PrintQueue(
            tmp_path / "p.db", port, renderer, lambda k, c=None, **d: events.append((k, c))
        )
        assert check_profile(renderer.profile, port.identify()).matches
        q.print_receipt(RECEIPT)
        assert printer.printed() == b""
        printer.set_state(PrinterStatus.OK)
        assert q.process().printed == 1
        deadline = time.monotonic() + 5
        want = renderer.render(RECEIPT)
        while printer.printed() != want and time.monotonic() < deadline:
            time.sleep(0.02)
        q.close()
    assert printer.printed() == want
    assert (EventKind.FAULT, "PRN.COVER_OPEN") in events
    assert (EventKind.FAULT_CLEARED, "PRN.COVER_OPEN") in events
    assert b"RMB -50.00" in want
    assert "退货".encode("gbk") in want
