"""A doctor verdict and a sale's failure name the same catalog code, fault by fault.

Each fault is injected for real (a closed port, a port where another service answers, a TLS
host the terminal does not trust, a host that accepts and never answers, a printer out of
paper, with its cover open, or gone), then a sale runs through ``Terminal`` with the
service's print queue, and the doctor runs its checklist against the same configuration.
The doctor's failing check must carry the code the sale reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from posguard.catalog.checks import CheckResult
from posguard.common.events import EventKind
from posguard.common.testing import free_port, write_self_signed_cert
from posguard.host.faults import Fault
from posguard.host.seed import SeedData
from posguard.host.server import tls_context
from posguard.host.testing import running_host, running_proxy
from posguard.terminal.config import TerminalConfig, Timeouts, TlsConfig
from posguard.terminal.doctor import CheckReport, DoctorConfig, PrinterSettings, arun_all
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.printer.queue import PrintQueue
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.printer.status import PrinterStatus
from posguard.terminal.printer.testing import running_printer
from posguard.terminal.result import Outcome
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import (
    LAB_EXPIRY,
    EventRecorder,
    lab_cards,
    lab_seed,
    local_config,
)

TIMEOUTS = Timeouts(dns=1.0, connect=0.5, read=0.6)


def _first_failure(reports: list[CheckReport]) -> CheckReport:
    failed = [r for r in reports if r.result is CheckResult.FAIL]
    assert failed, [(r.check_id, r.result, r.detail) for r in reports]
    return failed[0]


async def _sale_code(term: TerminalConfig, *, sign_on_first: bool = False) -> str | None:
    async with Terminal(term) as t:
        if sign_on_first:
            await t.sign_on()
        result = await t.sale(lab_cards()[0], LAB_EXPIRY, 100)
    assert result.outcome is not Outcome.APPROVED
    return result.code


@asynccontextmanager
async def _other_service() -> AsyncIterator[int]:
    """A port where something else listens: it answers an HTTP error to anything."""

    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(64)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_refused_port(tmp_path: Path) -> None:
    term = local_config(free_port(), tmp_path / "j.db", timeouts=TIMEOUTS)
    sale = await _sale_code(term)
    doctor = _first_failure(await arun_all(DoctorConfig(terminal=term, echo_count=1)))
    assert sale == "NET.CONNECT_REFUSED"
    assert (doctor.check_id, doctor.code) == ("doctor.tcp_connect", sale)


async def test_wrong_port(tmp_path: Path) -> None:
    async with _other_service() as port:
        term = local_config(port, tmp_path / "j.db", timeouts=TIMEOUTS)
        sale = await _sale_code(term)
        doctor = _first_failure(await arun_all(DoctorConfig(terminal=term, echo_count=1)))
    assert sale == "TXN.FORMAT_ERROR"
    assert (doctor.check_id, doctor.code) == ("doctor.iso_echo", sale)
    assert "wrong port" in doctor.detail


async def test_tls_mismatch(tmp_path: Path) -> None:
    cert, key = write_self_signed_cert(tmp_path, "localhost", 365)
    other_ca, _ = write_self_signed_cert(tmp_path, "other-ca", 365)
    async with running_host(SeedData.model_validate(lab_seed()), tls=tls_context(cert, key)) as (
        _h,
        port,
        _l,
    ):
        base = local_config(port, tmp_path / "j.db", timeouts=TIMEOUTS)
        host = base.hosts[0].model_copy(
            update={"host": "localhost", "tls": TlsConfig(enabled=True, ca_file=other_ca)}
        )
        term = base.model_copy(update={"hosts": [host]})
        sale = await _sale_code(term)
        doctor = _first_failure(await arun_all(DoctorConfig(terminal=term, echo_count=1)))
    assert sale == "NET.TLS_FAILURE"
    assert (doctor.check_id, doctor.code) == ("doctor.tls_handshake", sale)


async def test_host_that_never_answers(tmp_path: Path) -> None:
    async with (
        running_host(SeedData.model_validate(lab_seed())) as (_h, port, _l),
        running_proxy(port) as proxy,
    ):
        term = local_config(proxy.port, tmp_path / "j.db", timeouts=TIMEOUTS)
        async with Terminal(term) as t:
            assert (await t.sign_on()).rc == "00"
            proxy.set_fault(Fault(kind="blackhole"))
            result = await t.sale(lab_cards()[0], LAB_EXPIRY, 100)
        doctor = _first_failure(await arun_all(DoctorConfig(terminal=term, echo_count=1)))
    assert result.code == "NET.READ_TIMEOUT"
    assert (doctor.check_id, doctor.code) == ("doctor.iso_echo", result.code)
    assert doctor.duration_ms is not None
    assert doctor.duration_ms >= 600 * 0.9


@pytest.mark.parametrize(
    "fault", [PrinterStatus.PAPER_OUT, PrinterStatus.COVER_OPEN, PrinterStatus.OFFLINE]
)
async def test_printer_faults(tmp_path: Path, fault: PrinterStatus) -> None:
    async with running_host(SeedData.model_validate(lab_seed())) as (_h, port, _l):
        term = local_config(port, tmp_path / "j.db", timeouts=TIMEOUTS)
        with running_printer(model_name="TM-T88V", model_id=0x20) as printer:
            settings = PrinterSettings(
                kind="network",
                host=printer.host,
                port=printer.port if fault is not PrinterStatus.OFFLINE else free_port(),
                profile="epson-tm-t88v-cn",
                timeout=0.3,
            )
            if fault is not PrinterStatus.OFFLINE:
                printer.set_state(fault)
            events = EventRecorder()
            queue = PrintQueue(
                tmp_path / "print.db",
                settings.open_port(),
                ReceiptRenderer(load_profile(settings.profile)),
                events,
            )
            try:
                async with Terminal(term, emit=events, print_receipt=queue.print_receipt) as t:
                    sale = await t.sale(lab_cards()[0], LAB_EXPIRY, 100)
            finally:
                queue.close()
            reports = await arun_all(DoctorConfig(terminal=term, printer=settings, echo_count=1))
    assert sale.outcome is Outcome.APPROVED  # the money is fine; the slip is what failed
    printer_faults = [c for c in events.codes(EventKind.FAULT) if c and c.startswith("PRN.")]
    assert printer_faults == [fault.code]
    doctor = _first_failure(reports)
    assert (doctor.check_id, doctor.code) == ("printer.status", fault.code)
