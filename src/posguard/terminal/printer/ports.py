"""Printer ports: one ``send(bytes)`` and a ``status()`` from real ESC/POS status queries.

Each port wraps a python-escpos connection (network, serial, USB, file, dummy) and
translates its errors into :class:`PrinterError` with a catalog code at this boundary.

Status bytes alone lie: a dead TCP link may still hold an old answer in the socket
buffer, and a printer switched off answers nothing. So ``status()`` is also a
liveness probe: stale bytes are drained first, each of DLE EOT 1..4 must be answered
within ``timeout`` by a well-formed status byte, and a link that is closed, refuses
or stays silent is ``OFFLINE`` (the connection is dropped and reopened next time).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from escpos.exceptions import Error as EscposError
from escpos.printer import Dummy, File, Network, Serial, Usb

from posguard.common.errors import PrinterError
from posguard.terminal.printer.profiles import PrinterIdentity
from posguard.terminal.printer.status import DLE_EOT, QUERIES, PrinterStatus, decode_status

GS_I = b"\x1dI"
_OFFLINE = "PRN.OFFLINE"


@runtime_checkable
class PrinterPort(Protocol):
    """What the print queue needs from a printer."""

    def send(self, data: bytes) -> None:
        """Write ``data``; raise :class:`PrinterError` (code PRN.*) when it cannot."""

    def status(self) -> PrinterStatus:
        """Query the printer now (never a cached value)."""

    def identify(self) -> PrinterIdentity:
        """What the printer says it is (GS I); empty when it does not answer."""

    def close(self) -> None:
        """Release the connection; the next call reopens it."""


class EscposPort:
    """A port over a python-escpos connection object with ``open/_raw/_read/close``."""

    def __init__(self, device: Any, *, name: str, timeout: float = 1.0) -> None:
        self._dev = device
        self.name = name
        self.timeout = timeout
        self._open = False

    # -- connection ---------------------------------------------------------------
    def _ensure_open(self) -> None:
        if self._open:
            return
        try:
            self._dev.open(raise_not_found=True)
        except (EscposError, OSError, RuntimeError, AssertionError) as exc:
            raise PrinterError(
                f"printer {self.name} cannot be opened: {exc}", code=_OFFLINE, port=self.name
            ) from exc
        self._open = True

    def close(self) -> None:
        if self._open:
            with contextlib.suppress(Exception):
                self._dev.close()
        self._open = False

    # -- raw I/O (overridden per transport where the library's read is too coarse) -----
    def _write(self, data: bytes) -> None:
        self._dev._raw(data)

    def _drain(self) -> None:
        """Drop bytes that arrived unasked (late answers); the base port cannot see them."""

    def _read(self, n: int) -> bytes:
        """Up to ``n`` bytes within ``timeout``; b"" when nothing came."""
        data: bytes = bytes(self._dev._read() or b"")
        return data[:n]

    # -- PrinterPort ---------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self._ensure_open()
        try:
            self._write(data)
        except (EscposError, OSError, AssertionError) as exc:
            self.close()
            raise PrinterError(
                f"printer {self.name} did not take the data: {exc}", code=_OFFLINE, port=self.name
            ) from exc

    def _ask(self, query: bytes, n: int = 1) -> bytes:
        self._write(query)
        return self._read(n)

    def status(self) -> PrinterStatus:
        try:
            self._ensure_open()
            self._drain()
            answers = []
            for q in QUERIES:
                a = self._ask(DLE_EOT + bytes([q]))
                if len(a) != 1:  # silence or a closed link: not alive, whatever it said before
                    self.close()
                    return PrinterStatus.OFFLINE
                answers.append(a)
        except (PrinterError, EscposError, OSError, AssertionError):
            self.close()
            return PrinterStatus.OFFLINE
        return decode_status(*answers)

    def identify(self) -> PrinterIdentity:
        try:
            self._ensure_open()
            self._drain()
            raw_id = self._ask(GS_I + b"\x01")
            model_id = raw_id[0] if len(raw_id) == 1 else None
            name = self._read_block(GS_I + b"\x43")
            if model_id is None and name is None:
                return PrinterIdentity()  # does not implement GS I: do not wait for the rest
            raw_type = self._ask(GS_I + b"\x02")
            type_id = raw_type[0] if len(raw_type) == 1 else None
            maker = self._read_block(GS_I + b"\x42")
        except (PrinterError, EscposError, OSError, AssertionError):
            self.close()
            return PrinterIdentity()
        return PrinterIdentity(
            model_id=model_id, model_name=name, manufacturer=maker, type_id=type_id
        )

    def _read_block(self, query: bytes) -> str | None:
        """Answers to GS I 0x41..0x45 are ``_`` + ASCII text + NUL."""
        self._write(query)
        buf = b""
        deadline = time.monotonic() + self.timeout
        while not buf.endswith(b"\x00") and time.monotonic() < deadline and len(buf) < 80:
            chunk = self._read(80 - len(buf))
            if not chunk:
                break
            buf += chunk
        if not (buf.startswith(b"_") and buf.endswith(b"\x00")):
            return None
        return buf[1:-1].decode("ascii", errors="replace").strip() or None


class NetworkPort(EscposPort):
    """A printer on TCP (raw port 9100), via ``escpos.printer.Network``."""

    def __init__(self, host: str, port: int = 9100, *, timeout: float = 1.0) -> None:
        super().__init__(
            Network(host=host, port=port, timeout=timeout), name=f"{host}:{port}", timeout=timeout
        )

    def _sock(self) -> socket.socket:
        sock = self._dev.device
        if not isinstance(sock, socket.socket):
            raise PrinterError(f"printer {self.name} is not connected", code=_OFFLINE)
        return sock

    def _write(self, data: bytes) -> None:
        self._sock().sendall(data)

    def _drain(self) -> None:
        sock = self._sock()
        sock.setblocking(False)
        try:
            while True:
                try:
                    chunk = sock.recv(256)
                except (BlockingIOError, InterruptedError):
                    return
                if not chunk:  # peer closed: the link is dead
                    raise PrinterError(f"printer {self.name} closed the link", code=_OFFLINE)
        finally:
            sock.settimeout(self.timeout)

    def _read(self, n: int) -> bytes:
        sock = self._sock()
        sock.settimeout(self.timeout)
        try:
            data = sock.recv(n)
        except TimeoutError:
            return b""
        if not data:
            raise PrinterError(f"printer {self.name} closed the link", code=_OFFLINE)
        return data


class SerialPort(EscposPort):
    """A printer on a serial line, via ``escpos.printer.Serial`` (needs pyserial)."""

    def __init__(self, devfile: str, baudrate: int = 9600, *, timeout: float = 1.0) -> None:
        super().__init__(
            Serial(devfile=devfile, baudrate=baudrate, timeout=timeout),
            name=devfile,
            timeout=timeout,
        )

    def _drain(self) -> None:
        with contextlib.suppress(AttributeError):
            self._dev.device.reset_input_buffer()

    def _read(self, n: int) -> bytes:
        # escpos' Serial._read asks for 16 bytes and so always waits the whole timeout;
        # a status answer is one byte: return as soon as it is there
        data: bytes = self._dev.device.read(n)
        return data


class UsbPort(EscposPort):
    """A printer on USB, via ``escpos.printer.Usb`` (needs pyusb and libusb)."""

    def __init__(self, vendor_id: int, product_id: int, *, timeout: float = 1.0) -> None:
        super().__init__(
            Usb(idVendor=vendor_id, idProduct=product_id, timeout=int(timeout * 1000)),
            name=f"usb:{vendor_id:04x}:{product_id:04x}",
            timeout=timeout,
        )


class FilePort(EscposPort):
    """A printer behind a device file or a plain file (``/dev/usb/lp0``, a spool file).

    A file has no back channel, so ``status()`` can only prove liveness: the file can
    be opened for writing (OK) or not (OFFLINE). It never reports paper faults.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        super().__init__(File(devfile=str(self.path), auto_flush=True), name=str(self.path))

    def _ensure_open(self) -> None:
        # escpos' File opens with "wb", which would wipe a spool file on every restart
        if self._open:
            return
        try:
            self._dev.device = open(self.path, "ab")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise PrinterError(
                f"printer {self.name} cannot be opened: {exc}", code=_OFFLINE, port=self.name
            ) from exc
        self._open = True

    def status(self) -> PrinterStatus:
        target = self.path if self.path.exists() else self.path.parent
        return PrinterStatus.OK if os.access(target, os.W_OK) else PrinterStatus.OFFLINE

    def identify(self) -> PrinterIdentity:
        return PrinterIdentity()


class DummyPort(EscposPort):
    """Keeps every byte sent (``output``), for tests and previews; its state is set by hand."""

    def __init__(self, state: PrinterStatus = PrinterStatus.OK) -> None:
        super().__init__(Dummy(), name="dummy")
        self.state = state
        self._open = True

    @property
    def output(self) -> bytes:
        out: bytes = self._dev.output
        return out

    def clear(self) -> None:
        self._dev.clear()

    def send(self, data: bytes) -> None:
        if self.state is PrinterStatus.OFFLINE:
            raise PrinterError("dummy printer is offline", code=_OFFLINE, port=self.name)
        super().send(data)

    def status(self) -> PrinterStatus:
        return self.state

    def identify(self) -> PrinterIdentity:
        return PrinterIdentity()

    def close(self) -> None:
        """The dummy keeps its bytes; nothing to release."""
