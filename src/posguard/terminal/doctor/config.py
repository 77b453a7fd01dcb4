"""What the doctor examines: the terminal configuration and its optional ``printer:`` section."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from posguard.common.errors import ConfigError
from posguard.common.validation import first_error
from posguard.terminal.config import TerminalConfig, read_config_file
from posguard.terminal.printer.ports import FilePort, NetworkPort, PrinterPort, SerialPort, UsbPort


class PrinterSettings(BaseModel):
    """Where the receipt printer is and which profile it should match."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["network", "file", "serial", "usb"]
    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 9100
    path: Path | None = None
    device: str | None = None
    baudrate: int = 9600
    vendor_id: int | None = None
    product_id: int | None = None
    profile: str = "generic-58-gbk"
    timeout: Annotated[float, Field(gt=0, le=30)] = 1.0

    @property
    def where(self) -> str:
        """The printer's address as a person would name it."""
        if self.kind == "network":
            return f"{self.host}:{self.port}"
        if self.kind == "usb" and self.vendor_id is not None and self.product_id is not None:
            return f"{self.vendor_id:04x}:{self.product_id:04x}"
        return str(self.path or self.device or "")

    def open_port(self) -> PrinterPort:
        if self.kind == "network" and self.host:
            return NetworkPort(self.host, self.port, timeout=self.timeout)
        if self.kind == "file" and self.path:
            return FilePort(self.path)
        if self.kind == "serial" and self.device:
            return SerialPort(self.device, self.baudrate, timeout=self.timeout)
        if self.kind == "usb" and self.vendor_id is not None and self.product_id is not None:
            return UsbPort(self.vendor_id, self.product_id, timeout=self.timeout)
        raise ConfigError(f"printer of kind {self.kind!r} is missing its address fields")


@dataclass(frozen=True)
class DoctorConfig:
    """The terminal configuration plus the optional ``printer:`` section of the same file."""

    terminal: TerminalConfig
    printer: PrinterSettings | None = None
    echo_count: int = 3
    # The running terminal's session MAC key with a host (by name), None when not signed on:
    # ``Terminal.mac_key_for``. Absent for a doctor run in its own process.
    mac_keys: Callable[[str], bytes | None] | None = None


def load_doctor_config(path: Path) -> DoctorConfig:
    """Read the terminal config file; a top-level ``printer:`` mapping describes the printer."""
    raw = read_config_file(path)
    printer_raw = raw.pop("printer", None)
    for section in ("agent", "service"):  # the service's sections; the doctor does not need them
        raw.pop(section, None)
    try:
        terminal = TerminalConfig.model_validate(raw)
        printer = None if printer_raw is None else PrinterSettings.model_validate(printer_raw)
    except ValidationError as exc:
        where, msg = first_error(exc)
        section = "printer." if printer_raw is not None and "kind" in str(exc) else ""
        raise ConfigError(
            f"terminal config {path}: field '{section}{where}': {msg}", file=str(path)
        ) from exc
    return DoctorConfig(terminal=terminal, printer=printer)
