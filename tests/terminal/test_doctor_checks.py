"""Doctor checks run for real: a host simulator, its fault proxy, local listeners, a TLS server,
a fake ESC/POS printer. Every failure names its catalog code and the catalog's next step."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from posguard.catalog.checks import CheckResult
from posguard.catalog.loader import default_catalog
from posguard.common.testing import free_port, write_self_signed_cert
from posguard.host.faults import Fault
from posguard.host.server import tls_context
from posguard.host.testing import running_host, running_proxy, terminal_seed
from posguard.terminal.config import HostEndpoint, TerminalConfig, Timeouts, TlsConfig
from posguard.terminal.doctor import (
    DoctorConfig,
    PrinterSettings,
    arun_all,
    arun_check,
    load_doctor_config,
    run_check,
)
from posguard.terminal.printer.status import PrinterStatus
from posguard.terminal.printer.testing import running_printer

TID = "10000001"


def _cfg(
    *hosts: HostEndpoint, printer: PrinterSettings | None = None, read: float = 2.0
) -> DoctorConfig:
    seed = terminal_seed(TID)
    term = TerminalConfig(
        terminal_id=TID,
        merchant_id=seed.mid,
        merchant_name="Doctor Test Shop",
        journal_path=Path(tempfile.mkdtemp(prefix="doctor-")) / "journal.db",
        tmk=seed.tmk,
        hosts=list(hosts),
        timeouts=Timeouts(dns=1.0, connect=1.0, read=read),
    )
    return DoctorConfig(terminal=term, printer=printer, echo_count=3)


def _by(reports: list[Any], check: str, target_prefix: str = "") -> Any:
    return next(r for r in reports if r.check_id == check and r.target.startswith(target_prefix))


async def test_healthy_host_and_printer_pass_every_check() -> None:
    async with running_host() as (_host, port, _ledger):
        with running_printer(model_name="TM-T88V", model_id=0x20) as printer:
            cfg = _cfg(
                HostEndpoint(name="primary", host="localhost", port=port),
                printer=PrinterSettings(
                    kind="network", host=printer.host, port=printer.port, profile="epson-tm-t88v-cn"
                ),
            )
            reports = await arun_all(cfg)
    results = {(r.check_id, r.result) for r in reports}
    assert ("doctor.dns", CheckResult.PASS) in results
    assert ("doctor.tcp_connect", CheckResult.PASS) in results
    assert ("doctor.tls_handshake", CheckResult.UNAVAILABLE) in results  # not configured
    assert ("doctor.iso_echo", CheckResult.PASS) in results
    assert ("doctor.round_trip", CheckResult.PASS) in results
    assert ("printer.status", CheckResult.PASS) in results
    assert ("terminal.config_valid", CheckResult.PASS) in results
    assert ("terminal.pending_reversals", CheckResult.PASS) in results
    echo = _by(reports, "doctor.iso_echo")
    assert "0830 rc 00" in echo.detail
    rtt = _by(reports, "doctor.round_trip")
    assert "over 3 echoes" in rtt.detail
    assert rtt.duration_ms > 0
    assert all(r.code is None for r in reports)


async def test_refused_port_names_the_code_and_the_catalog_step() -> None:
    cfg = _cfg(HostEndpoint(name="primary", host="127.0.0.1", port=free_port()))
    reports = await arun_all(cfg)
    tcp = _by(reports, "doctor.tcp_connect")
    assert tcp.result is CheckResult.FAIL
    assert tcp.code == "NET.CONNECT_REFUSED"
    entry = default_catalog()["NET.CONNECT_REFUSED"]
    step = next(s for s in entry.steps if s.check != "doctor.tcp_connect")
    assert tcp.next_step == {"zh": step.zh, "en": step.en}  # not "run the connection test"
    assert _by(reports, "doctor.iso_echo").result is CheckResult.UNAVAILABLE  # skipped after it
    assert "skipped" in _by(reports, "doctor.iso_echo").detail


async def test_unresolvable_name_is_a_dns_failure() -> None:
    cfg = _cfg(HostEndpoint(name="primary", host="acquirer.example.invalid", port=5000))
    report = await arun_check("doctor.dns", cfg)
    assert report.result is CheckResult.FAIL
    assert report.code == "NET.DNS_FAILURE"
    assert report.next_step is not None


async def test_black_holed_host_fails_the_echo_with_read_timeout() -> None:
    async with running_host() as (_host, port, _ledger), running_proxy(port) as proxy:
        proxy.set_fault(Fault(kind="blackhole"))
        cfg = _cfg(HostEndpoint(name="primary", host="127.0.0.1", port=proxy.port), read=0.5)
        reports = await arun_all(cfg)
    assert _by(reports, "doctor.tcp_connect").result is CheckResult.PASS  # it accepts...
    echo = _by(reports, "doctor.iso_echo")
    assert echo.result is CheckResult.FAIL  # ...but never answers
    assert echo.code == "NET.READ_TIMEOUT"
    assert "0.5 s" in echo.detail


async def test_slow_host_warns_on_round_trip() -> None:
    async with running_host() as (_host, port, _ledger), running_proxy(port) as proxy:
        proxy.set_fault(Fault(kind="delay", delay_ms=2100, direction="response"))
        cfg = _cfg(HostEndpoint(name="primary", host="127.0.0.1", port=proxy.port), read=5.0)
        cfg = DoctorConfig(terminal=cfg.terminal, echo_count=1)
        report = await arun_check("doctor.round_trip", cfg)
    assert report.result is CheckResult.WARN
    assert report.duration_ms > 2000
    assert report.code == "NET.READ_TIMEOUT"


async def test_garbage_answer_is_a_format_error() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(2)
        writer.write(b"\x00\x05hello")
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        report = await arun_check(
            "doctor.iso_echo", _cfg(HostEndpoint(name="primary", host="127.0.0.1", port=port))
        )
    finally:
        server.close()
        await server.wait_closed()
    assert report.result is CheckResult.FAIL
    assert report.code == "TXN.FORMAT_ERROR"


async def test_dead_primary_with_live_backup_is_a_warning() -> None:
    async with running_host() as (_host, port, _ledger):
        cfg = _cfg(
            HostEndpoint(name="primary", host="127.0.0.1", port=free_port()),
            HostEndpoint(name="backup", host="127.0.0.1", port=port),
        )
        tcp = await arun_check("doctor.tcp_connect", cfg)
        echo = await arun_check("doctor.iso_echo", cfg)
    assert tcp.result is CheckResult.WARN
    assert tcp.code == "NET.CONNECT_REFUSED"
    assert "backup host works" in tcp.detail
    assert [i.result for i in tcp.items] == [CheckResult.FAIL, CheckResult.PASS]
    assert echo.result is CheckResult.WARN


# -- TLS ---------------------------------------------------------------------------------
@asynccontextmanager
async def _tls_host(cert: Path, key: Path) -> AsyncIterator[int]:
    async with running_host(tls=tls_context(cert, key)) as (_h, port, _l):
        yield port


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    return {
        "good": write_self_signed_cert(tmp_path, "localhost", 365),
        "soon": write_self_signed_cert(tmp_path, "localhost", 10),
        "other": write_self_signed_cert(tmp_path, "other-ca", 365),
    }


async def test_tls_handshake_pass_expiring_and_untrusted(
    certs: dict[str, tuple[Path, Path]],
) -> None:
    good_cert, good_key = certs["good"]
    async with _tls_host(good_cert, good_key) as port:
        ok = _cfg(
            HostEndpoint(
                name="primary",
                host="localhost",
                port=port,
                tls=TlsConfig(enabled=True, ca_file=good_cert),
            )
        )
        report = await arun_check("doctor.tls_handshake", ok)
        echo = await arun_check("doctor.iso_echo", ok)  # the echo goes through TLS too
        untrusted = _cfg(
            HostEndpoint(
                name="primary",
                host="localhost",
                port=port,
                tls=TlsConfig(enabled=True, ca_file=certs["other"][0]),
            )
        )
        bad = await arun_check("doctor.tls_handshake", untrusted)
    assert report.result is CheckResult.PASS
    assert "TLSv1." in report.detail
    assert echo.result is CheckResult.PASS
    assert bad.result is CheckResult.FAIL
    assert bad.code == "NET.TLS_FAILURE"
    assert bad.next_step is not None
    soon_cert, soon_key = certs["soon"]
    async with _tls_host(soon_cert, soon_key) as port:
        soon = await arun_check(
            "doctor.tls_handshake",
            _cfg(
                HostEndpoint(
                    name="primary",
                    host="localhost",
                    port=port,
                    tls=TlsConfig(enabled=True, ca_file=soon_cert),
                )
            ),
        )
    assert soon.result is CheckResult.WARN
    assert "expires in" in soon.detail


# -- printer -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "result", "code"),
    [
        (PrinterStatus.PAPER_OUT, CheckResult.FAIL, "PRN.PAPER_OUT"),
        (PrinterStatus.COVER_OPEN, CheckResult.FAIL, "PRN.COVER_OPEN"),
        (PrinterStatus.OVERHEAT, CheckResult.FAIL, "PRN.OVERHEAT"),
        (PrinterStatus.HARDWARE_FAULT, CheckResult.FAIL, "PRN.HARDWARE_FAULT"),
        (PrinterStatus.CUTTER_JAM, CheckResult.FAIL, "PRN.CUTTER_JAM"),
        (PrinterStatus.PAPER_LOW, CheckResult.WARN, "PRN.PAPER_LOW"),
    ],
)
def test_printer_status_check(state: PrinterStatus, result: CheckResult, code: str) -> None:
    with running_printer(state) as printer:
        cfg = _cfg(
            HostEndpoint(name="primary", host="127.0.0.1", port=1),
            printer=PrinterSettings(
                kind="network", host=printer.host, port=printer.port, timeout=0.3
            ),
        )
        report = run_check("printer.status", cfg)
    assert report.result is result
    assert report.code == code
    assert report.next_step is not None
    assert report.next_step["zh"]
    # a sentence in each language, the printer's own words for the state, not its enum name
    assert report.sentence.zh != report.sentence.en
    assert state.value not in report.detail
    if state is PrinterStatus.HARDWARE_FAULT:
        assert "repair or replace" in report.detail


def test_printer_wrong_profile_offline_and_test_print(tmp_path: Path) -> None:
    with running_printer(model_name="TM-T88V", model_id=0x20) as printer:
        settings = PrinterSettings(
            kind="network",
            host=printer.host,
            port=printer.port,
            profile="gprinter-gp58",
            timeout=0.3,
        )
        cfg = _cfg(HostEndpoint(name="p", host="127.0.0.1", port=1), printer=settings)
        wrong = run_check("printer.status", cfg)
        ok_cfg = _cfg(
            HostEndpoint(name="p", host="127.0.0.1", port=1),
            printer=settings.model_copy(update={"profile": "epson-tm-t88v-cn"}),
        )
        printed = run_check("printer.test_print", ok_cfg)
        slip = printer.printed()
    assert wrong.result is CheckResult.FAIL
    assert wrong.code == "PRN.WRONG_PROFILE"
    assert printed.result is CheckResult.PASS
    assert "打印测试".encode("gbk") in slip
    offline = run_check(
        "printer.status",
        _cfg(
            HostEndpoint(name="p", host="127.0.0.1", port=1),
            printer=PrinterSettings(
                kind="network", host="127.0.0.1", port=free_port(), timeout=0.3
            ),
        ),
    )
    assert offline.result is CheckResult.FAIL
    assert offline.code == "PRN.OFFLINE"


async def test_run_check_works_from_inside_an_event_loop() -> None:
    cfg = _cfg(HostEndpoint(name="primary", host="127.0.0.1", port=free_port()))
    report = run_check("doctor.tcp_connect", cfg)  # the wizard may call it from async code
    assert report.code == "NET.CONNECT_REFUSED"
    with pytest.raises(ValueError, match="unknown doctor check"):
        run_check("os.system", cfg)


# -- CLI ---------------------------------------------------------------------------------
def test_cli_json_report_and_exit_code(tmp_path: Path) -> None:
    from posguard.cli import app

    seed = terminal_seed(TID)
    conf = tmp_path / "terminal.yaml"
    conf.write_text(
        f"terminal_id: '{TID}'\nmerchant_id: '{seed.mid}'\ntmk: '{seed.tmk}'\n"
        f"hosts:\n  - {{name: primary, host: 127.0.0.1, port: {free_port()}}}\n"
        "timeouts: {dns: 1, connect: 1, read: 1}\n"
        f"journal_path: '{tmp_path / 'journal.db'}'\n"
        "printer: {kind: file, path: '" + str(tmp_path / "lp0") + "'}\n"
    )
    assert load_doctor_config(conf).printer is not None
    result = CliRunner().invoke(app, ["terminal", "doctor", "--config", str(conf), "--json"])
    assert result.exit_code == 1, result.output
    body = json.loads(result.output)
    assert body["ok"] is False
    tcp = next(c for c in body["checks"] if c["check"] == "doctor.tcp_connect")
    assert tcp["code"] == "NET.CONNECT_REFUSED"
    assert tcp["next_step"]["en"]
    prn = next(c for c in body["checks"] if c["check"] == "printer.status")
    assert prn["result"] == "pass"
    human = CliRunner().invoke(app, ["terminal", "doctor", "--config", str(conf)])
    assert human.exit_code == 1
    assert "NET.CONNECT_REFUSED" in human.output
    assert "下一步" in human.output
