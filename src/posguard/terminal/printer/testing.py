"""A fake ESC/POS network printer on a real TCP socket, for tests, demos and ``doctor``.

It listens on 127.0.0.1 (ephemeral port, like a raw port-9100 printer), answers the
real-time status queries DLE EOT 1..4 from a scripted :class:`StatusBits`, answers
GS I 1 / 0x42 / 0x43 (model id, maker, model name) when given an identity, and keeps
every other byte it receives in ``received`` (what would have been printed). It can
go silent (a hung printer that keeps the link open) or drop every connection.

>>> with running_printer() as p:
...     port = NetworkPort(p.host, p.port, timeout=0.5)
...     port.status()
<PrinterStatus.OK: 'ok'>
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import socket
import threading
import tty
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

from posguard.terminal.printer.ports import NetworkPort
from posguard.terminal.printer.receipt import ReceiptData
from posguard.terminal.printer.status import PrinterStatus, StatusBits, encode_status

__all__ = [
    "EscposEmulator",
    "FakeNetworkPrinter",
    "FakeSerialPrinter",
    "NetworkPort",
    "bits_for",
    "running_printer",
    "running_serial_printer",
    "sample_receipt",
]

_SAMPLE_RECEIPT: Final = ReceiptData(
    merchant_name="上海静安便利店 Jing'an Mart",
    merchant_id="898310048990001",
    terminal_id="T0000001",
    operator="01",
    txn_type="sale",
    masked_pan="621234******1232",
    card_brand="unionpay",
    entry_mode="chip",
    amount_minor=12345,
    currency="CNY",
    batch="000001",
    stan="000123",
    rrn="332910000123",
    auth_code="A1B2C3",
    ts=datetime(2026, 11, 25, 10, 30, 5),
)


def sample_receipt(**changes: Any) -> ReceiptData:
    """A valid chip sale slip (UnionPay, masked card, fixed time), with ``changes`` applied
    field by field (and validated again, like ``dataclasses.replace``).

    >>> sample_receipt().stan, sample_receipt(stan="000001", amount_minor=100).amount_minor
    ('000123', 100)
    """
    return dataclasses.replace(_SAMPLE_RECEIPT, **changes)


_BITS_FOR: Final[dict[PrinterStatus, StatusBits]] = {
    PrinterStatus.OK: StatusBits(),
    PrinterStatus.PAPER_LOW: StatusBits(near_end=True),
    PrinterStatus.PAPER_OUT: StatusBits(
        offline=True, paper_end_stop=True, near_end=True, paper_end=True
    ),
    PrinterStatus.COVER_OPEN: StatusBits(offline=True, cover_open=True),
    PrinterStatus.CUTTER_JAM: StatusBits(offline=True, error=True, cutter_error=True),
    PrinterStatus.OVERHEAT: StatusBits(offline=True, error=True, auto_recoverable=True),
    PrinterStatus.HARDWARE_FAULT: StatusBits(offline=True, error=True, unrecoverable=True),
    PrinterStatus.OFFLINE: StatusBits(offline=True),
}


def bits_for(status: PrinterStatus) -> StatusBits:
    """The sensor bits a real printer reports in ``status`` (as seen on Epson TM printers)."""
    return _BITS_FOR[status]


class EscposEmulator:
    """The printer side of ESC/POS: answers DLE EOT and GS I from a scripted state and keeps
    every other byte as printed. Transports (TCP, a serial pty) feed it bytes."""

    def __init__(
        self,
        state: StatusBits | PrinterStatus = PrinterStatus.OK,
        *,
        model_name: str | None = None,
        model_id: int | None = None,
        manufacturer: str | None = None,
        type_id: int | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._bits = bits_for(state) if isinstance(state, PrinterStatus) else state
        self.model_name = model_name
        self.model_id = model_id
        self.manufacturer = manufacturer
        self.type_id = type_id
        self.silent = False
        self.received = bytearray()
        self.queries = 0

    def set_state(self, state: StatusBits | PrinterStatus) -> None:
        with self._lock:
            self._bits = bits_for(state) if isinstance(state, PrinterStatus) else state

    def printed(self) -> bytes:
        with self._lock:
            return bytes(self.received)

    def _answer(self, cmd: bytes, n: int) -> bytes:
        with self._lock:
            self.queries += 1
            if self.silent:
                return b""
            if cmd == b"\x10\x04":
                return encode_status(self._bits).get(n, b"")
            if n == 0x01 and self.model_id is not None:
                return bytes([self.model_id])
            if n == 0x02 and self.type_id is not None:
                return bytes([self.type_id])
            if n == 0x43 and self.model_name is not None:
                return b"_" + self.model_name.encode("ascii") + b"\x00"
            if n == 0x42 and self.manufacturer is not None:
                return b"_" + self.manufacturer.encode("ascii") + b"\x00"
            return b""

    def consume(self, buf: bytes) -> tuple[bytes, bytes]:
        """Process received bytes: (what is left for later, the answers to send back)."""
        out = bytearray()
        i = 0
        while i < len(buf):
            two = buf[i : i + 2]
            if two in (b"\x10\x04", b"\x1dI"):
                if i + 2 >= len(buf):
                    break  # the parameter byte is still in flight
                out += self._answer(two, buf[i + 2])
                i += 3
                continue
            if buf[i : i + 1] in (b"\x10", b"\x1d") and i + 1 >= len(buf):
                break
            with self._lock:
                self.received.append(buf[i])
            i += 1
        return buf[i:], bytes(out)


class FakeNetworkPrinter(EscposEmulator):
    """A threaded TCP server speaking the ESC/POS real-time status protocol."""

    def __init__(
        self,
        state: StatusBits | PrinterStatus = PrinterStatus.OK,
        *,
        model_name: str | None = None,
        model_id: int | None = None,
        manufacturer: str | None = None,
        type_id: int | None = None,
    ) -> None:
        super().__init__(
            state,
            model_name=model_name,
            model_id=model_id,
            manufacturer=manufacturer,
            type_id=type_id,
        )
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]
        self._clients: list[socket.socket] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept_loop, name="fake-printer", daemon=True)
        accept.start()
        self._threads.append(accept)

    def drop_connections(self) -> None:
        """Close every open link (a cable pulled, a printer power-cycled)."""
        with self._lock:
            clients, self._clients = self._clients, []
        for c in clients:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def stop(self) -> None:
        """Stop listening and close every link: from now on connecting is refused."""
        self._stop.set()
        self._listener.close()
        self.drop_connections()
        for t in self._threads:
            t.join(timeout=2)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(0.2)
            with self._lock:
                self._clients.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf, out = self.consume(buf + chunk)
            if out:
                try:
                    conn.sendall(out)
                except OSError:
                    return


@contextlib.contextmanager
def running_printer(
    state: StatusBits | PrinterStatus = PrinterStatus.OK,
    *,
    model_name: str | None = None,
    model_id: int | None = None,
    manufacturer: str | None = None,
    type_id: int | None = None,
) -> Iterator[FakeNetworkPrinter]:
    """A :class:`FakeNetworkPrinter` for the duration of a ``with`` block."""
    printer = FakeNetworkPrinter(
        state,
        model_name=model_name,
        model_id=model_id,
        manufacturer=manufacturer,
        type_id=type_id,
    )
    try:
        yield printer
    finally:
        printer.stop()


class FakeSerialPrinter(EscposEmulator):
    """The same printer behind a pseudo-terminal: ``device`` is a real tty path that
    pyserial (and so :class:`~posguard.terminal.printer.ports.SerialPort`) opens like a UART."""

    def __init__(self, state: StatusBits | PrinterStatus = PrinterStatus.OK, **ident: Any) -> None:
        super().__init__(state, **ident)
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        self.device = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-serial", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        buf = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.1)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            buf, out = self.consume(buf + chunk)
            if out:
                os.write(self._master, out)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@contextlib.contextmanager
def running_serial_printer(
    state: StatusBits | PrinterStatus = PrinterStatus.OK, **ident: Any
) -> Iterator[FakeSerialPrinter]:
    """A :class:`FakeSerialPrinter` on a pty for the duration of a ``with`` block."""
    printer = FakeSerialPrinter(state, **ident)
    try:
        yield printer
    finally:
        printer.stop()
