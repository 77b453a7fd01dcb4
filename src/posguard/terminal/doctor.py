"""``posguard terminal doctor``: the seed's checklists, run for real against this terminal's setup.

Each check is registered in :mod:`posguard.catalog.checks` under the same id the catalog
steps and the knowledge-base wizard use:

==================== ==============================================================
doctor.dns           resolve each host name (``getaddrinfo`` within the DNS timeout)
doctor.tcp_connect   open a TCP connection to each host and port
doctor.tls_handshake TLS handshake with the configured trust anchor; warn when the
                     host certificate expires within 30 days
doctor.iso_echo      an ISO 8583 echo test (0820, network code 301) framed on a socket;
                     the host must answer 0830 with field 39 = 00. Once the terminal has
                     a session with the host (``DoctorConfig.mac_keys``: the running
                     terminal's MAC key per host) the echo carries a MAC and the answer's
                     MAC is checked, as on the real path; without the key (a separate
                     process) an A0 answer means "session open, MAC required": reachable
doctor.round_trip    median time of a few echo tests; warn above 2 s
printer.status       DLE EOT status and liveness of the printer, and its profile (GS I)
printer.test_print   print a short test slip and check the printer afterwards
terminal.config_valid  the parameters make sense together: merchant name for the slips,
                     a backup that is really another host, TLS files present, a known
                     printer profile
terminal.storage     the journal's disk: writable, warn under 10 % free, fail under 1 %
terminal.pending_reversals  reversals waiting in the journal: warn while they are being
                     resent, fail when one has been tried 5 times or more
==================== ==============================================================

A failed check carries its catalog code and the next step from that catalog entry (its
first step that is not just "run this check"), in Chinese and English.
``run_check(check_id, config)`` runs one check over every host (for the wizard);
``run_all(config)`` runs them all, one line per host.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import shutil
import socket
import ssl
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from posguard.catalog.checks import CHECKS, CheckResult
from posguard.catalog.loader import default_catalog
from posguard.common.errors import ConfigError, MessageError, PosguardError
from posguard.common.validation import first_error
from posguard.iso8583.codec import decode, encode
from posguard.iso8583.framing import LengthHeader, frame, read_frame
from posguard.iso8583.mac import MacAlgorithm, apply_mac, check_mac_bytes
from posguard.iso8583.response_codes import lookup
from posguard.iso8583.spec import load_spec
from posguard.terminal.config import HostEndpoint, TerminalConfig, read_config_file
from posguard.terminal.engine.messages import echo
from posguard.terminal.link.classify import Stage, classify
from posguard.terminal.link.tls import client_context
from posguard.terminal.printer.ports import FilePort, NetworkPort, PrinterPort, SerialPort, UsbPort
from posguard.terminal.printer.profiles import check_profile, load_profile
from posguard.terminal.printer.status import PrinterStatus

HOST_CHECKS: Final = (
    "doctor.dns",
    "doctor.tcp_connect",
    "doctor.tls_handshake",
    "doctor.iso_echo",
    "doctor.round_trip",
)
PRINTER_CHECKS: Final = ("printer.status", "printer.test_print")
TERMINAL_CHECKS: Final = ("terminal.config_valid", "terminal.storage", "terminal.pending_reversals")
ALL_CHECKS: Final = HOST_CHECKS + PRINTER_CHECKS + TERMINAL_CHECKS
STUCK_REVERSAL_ATTEMPTS: Final = 5
STORAGE_WARN_FREE: Final = 0.10
STORAGE_FAIL_FREE: Final = 0.01
SLOW_MS: Final = 2000.0
CERT_WARN_DAYS: Final = 30


# -- configuration -----------------------------------------------------------------------
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


# -- results -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckReport:
    """The finding of one check on one target (a host, the printer), or over all of them.

    ``result`` and ``detail`` are what the knowledge-base wizard reads."""

    check_id: str
    result: CheckResult
    target: str
    detail: str
    code: str | None = None
    duration_ms: float | None = None
    next_step: dict[str, str] | None = None
    items: tuple[CheckReport, ...] = field(default=())

    @property
    def failed(self) -> bool:
        return self.result is CheckResult.FAIL

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.check_id,
            "result": self.result.value,
            "target": self.target,
            "detail": self.detail,
            "code": self.code,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 1),
            "next_step": self.next_step,
        }
        if self.items:
            out["items"] = [i.to_json() for i in self.items]
        return out


def next_step(code: str | None, check_id: str) -> dict[str, str] | None:
    """The catalog's advice for ``code``: its first step, skipping a step that only says to
    run this very check (the doctor has just run it)."""
    if code is None:
        return None
    entry = default_catalog().get(code)
    if entry is None:
        return None
    step = next((s for s in entry.steps if s.check != check_id), entry.steps[0])
    return {"zh": step.zh, "en": step.en}


def _report(
    check_id: str,
    result: CheckResult,
    target: str,
    detail: str,
    code: str | None = None,
    ms: float | None = None,
) -> CheckReport:
    step = next_step(code, check_id) if result in (CheckResult.FAIL, CheckResult.WARN) else None
    return CheckReport(check_id, result, target, detail, code, ms, step)


class _CheckFailedError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class _SessionOpen(Exception):  # noqa: N818 - a verdict, not an error
    """An unMACed echo answered A0: the host is up and holds a session with this terminal."""

    def __init__(self, ms: float) -> None:
        super().__init__("session open")
        self.ms = ms


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


# -- host stages -------------------------------------------------------------------------
async def _resolve(cfg: TerminalConfig, host: HostEndpoint) -> list[tuple[str, int]]:
    name = host.host.rstrip(".").lower()
    if name == "invalid" or name.endswith(".invalid"):  # RFC 6761: never resolves
        raise _CheckFailedError("NET.DNS_FAILURE", f"{host.host} does not resolve (.invalid)")
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host.host, host.port, type=socket.SOCK_STREAM), cfg.timeouts.dns
        )
    except (OSError, TimeoutError) as exc:
        raise _CheckFailedError(
            "NET.DNS_FAILURE", f"{host.host} does not resolve: {exc or 'timeout'}"
        ) from exc
    addrs = list(dict.fromkeys((str(i[4][0]), int(i[4][1])) for i in infos))
    if not addrs:
        raise _CheckFailedError("NET.DNS_FAILURE", f"{host.host} resolves to no address")
    return addrs


async def _connect(
    cfg: TerminalConfig, host: HostEndpoint, *, tls: bool
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    addrs = await _resolve(cfg, host)
    last: _CheckFailedError | None = None
    writer: asyncio.StreamWriter | None = None
    for addr in addrs:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*addr), cfg.timeouts.connect
            )
            break
        except (OSError, TimeoutError) as exc:
            last = _CheckFailedError(
                classify(exc, Stage.CONNECT), f"{addr[0]}:{addr[1]}: {type(exc).__name__} {exc}"
            )
    if writer is None:
        raise last or _CheckFailedError(
            "NET.CONNECT_TIMEOUT", f"{host.address}: no address answered"
        )
    if tls and host.tls.enabled:
        try:
            ctx = client_context(host.tls)
            await asyncio.wait_for(
                writer.start_tls(ctx, server_hostname=host.tls.server_name or host.host),
                cfg.timeouts.connect,
            )
        except ConfigError as exc:
            writer.close()
            raise _CheckFailedError("NET.TLS_FAILURE", exc.message) from exc
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            writer.close()
            raise _CheckFailedError(
                "NET.TLS_FAILURE", f"TLS handshake failed: {exc or 'timeout'}"
            ) from exc
    return reader, writer


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
        await asyncio.wait_for(writer.wait_closed(), 1.0)


async def _echo_once(
    cfg: TerminalConfig,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    stan: int,
    mac_key: bytes | None = None,
) -> float:
    spec = load_spec(cfg.spec)
    header = LengthHeader[cfg.length_header]
    alg = MacAlgorithm[cfg.mac_algorithm]
    msg = echo(cfg, f"{stan % 999999 + 1:06d}", "000001")
    if mac_key is not None:
        msg = apply_mac(spec, msg, alg, mac_key)
    t0 = time.perf_counter()
    try:
        writer.write(frame(encode(spec, msg), header))
        await writer.drain()
        raw = await read_frame(reader, header, timeout=cfg.timeouts.read)
    except TimeoutError as exc:
        raise _CheckFailedError(
            "NET.READ_TIMEOUT", f"no echo answer within {cfg.timeouts.read:g} s"
        ) from exc
    except MessageError as exc:
        raise _CheckFailedError(
            "NET.CONNECTION_RESET", f"the answer frame is broken: {exc}"
        ) from exc
    except OSError as exc:
        raise _CheckFailedError(classify(exc, Stage.READ), f"{type(exc).__name__}: {exc}") from exc
    elapsed = _ms(t0)
    try:
        answer = decode(spec, raw)
    except MessageError as exc:
        raise _CheckFailedError(
            "TXN.FORMAT_ERROR", f"the host's answer does not decode: {exc}"
        ) from exc
    rc_raw = answer.get("39", "")
    rc = rc_raw.decode("ascii", "replace") if isinstance(rc_raw, bytes) else rc_raw
    if (
        mac_key is not None
        and ("64" in answer or rc == "00")
        and not check_mac_bytes(spec, raw, alg, mac_key)
    ):
        raise _CheckFailedError("TXN.MAC_ERROR", "the echo answer's MAC does not verify")
    if mac_key is None and answer.get("t") == "0830" and rc == "A0":
        raise _SessionOpen(elapsed)
    if answer.get("t") != "0830" or rc != "00":
        info = lookup(rc) if rc else None
        code = (info.catalog_code if info else None) or "TXN.HOST_ERROR"
        mti = answer.get("t")
        raise _CheckFailedError(code, f"host answered MTI {mti!s} with field 39 = {rc or 'none'}")
    return elapsed


def _cert_days_left(writer: asyncio.StreamWriter) -> float | None:
    sslobj = writer.get_extra_info("ssl_object")
    if sslobj is None:
        return None
    cert = sslobj.getpeercert()
    not_after = cert.get("notAfter") if cert else None
    if not isinstance(not_after, str):
        return None
    return (ssl.cert_time_to_seconds(not_after) - time.time()) / 86400


async def _host_check(check_id: str, cfg: DoctorConfig, host: HostEndpoint) -> CheckReport:
    t = cfg.terminal
    target = f"{host.name} {host.address}"
    t0 = time.perf_counter()
    try:
        if check_id == "doctor.dns":
            addrs = await _resolve(t, host)
            shown = ", ".join(a for a, _ in addrs[:3])
            return _report(check_id, CheckResult.PASS, target, f"resolves to {shown}", ms=_ms(t0))
        if check_id == "doctor.tcp_connect":
            _, writer = await _connect(t, host, tls=False)
            await _close(writer)
            return _report(check_id, CheckResult.PASS, target, "connected", ms=_ms(t0))
        if check_id == "doctor.tls_handshake":
            if not host.tls.enabled:
                return _report(check_id, CheckResult.UNAVAILABLE, target, "TLS is not configured")
            _, writer = await _connect(t, host, tls=True)
            days = _cert_days_left(writer)
            version = (writer.get_extra_info("ssl_object") or None) and writer.get_extra_info(
                "ssl_object"
            ).version()
            await _close(writer)
            if days is not None and days < CERT_WARN_DAYS:
                return _report(
                    check_id,
                    CheckResult.WARN,
                    target,
                    f"{version}; host certificate expires in {days:.0f} days",
                    "NET.TLS_FAILURE",
                    _ms(t0),
                )
            left = "" if days is None else f"; certificate valid {days:.0f} more days"
            return _report(check_id, CheckResult.PASS, target, f"{version}{left}", ms=_ms(t0))
        if check_id in ("doctor.iso_echo", "doctor.round_trip"):
            reader, writer = await _connect(t, host, tls=True)
            key = cfg.mac_keys(host.name) if cfg.mac_keys is not None else None
            try:
                n = 1 if check_id == "doctor.iso_echo" else max(1, cfg.echo_count)
                base = int(time.time())
                rtts = [await _echo_once(t, reader, writer, base + i, key) for i in range(n)]
            except _SessionOpen as open_session:
                return _report(
                    check_id,
                    CheckResult.PASS,
                    target,
                    f"0830 in {open_session.ms:.0f} ms: the host has a session with this "
                    "terminal and wants a MACed echo (A0); run the doctor from the terminal "
                    "(remote command) to check the MAC too",
                    ms=_ms(t0),
                )
            finally:
                await _close(writer)
            if check_id == "doctor.iso_echo":
                return _report(
                    check_id,
                    CheckResult.PASS,
                    target,
                    f"0830 rc 00 in {rtts[0]:.0f} ms",
                    ms=_ms(t0),
                )
            median = statistics.median(rtts)
            shown = ", ".join(f"{r:.0f}" for r in rtts)
            if median > SLOW_MS:
                return _report(
                    check_id,
                    CheckResult.WARN,
                    target,
                    f"median {median:.0f} ms over {n} echoes ({shown} ms)",
                    "NET.READ_TIMEOUT",
                    median,
                )
            return _report(
                check_id,
                CheckResult.PASS,
                target,
                f"median {median:.1f} ms over {n} echoes ({shown} ms)",
                ms=median,
            )
    except _CheckFailedError as f:
        return _report(check_id, CheckResult.FAIL, target, f.detail, f.code, _ms(t0))
    raise ValueError(f"unknown host check {check_id!r}")


# -- printer -----------------------------------------------------------------------------
_TEST_SLIP: Final = (
    b"\x1b@\x1bt\x00\x1c&\x1ba\x01" + "posguard 打印测试 TEST PRINT".encode("gbk") + b"\n"
)


def _printer_check(check_id: str, cfg: DoctorConfig) -> CheckReport:
    settings = cfg.printer
    if settings is None:
        return _report(check_id, CheckResult.UNAVAILABLE, "printer", "no printer configured")
    target = f"printer {settings.kind} {settings.host or settings.path or settings.device or ''}"
    t0 = time.perf_counter()
    try:
        port = settings.open_port()
        profile = load_profile(settings.profile)
    except PosguardError as exc:
        return _report(
            check_id, CheckResult.FAIL, target.strip(), exc.message, "PRN.OFFLINE", _ms(t0)
        )
    try:
        status = port.status()
        if check_id == "printer.test_print" and status.can_print:
            cut = b"\x1dVB\x04" if profile.cutter != "none" else b"\x1bd\x04"
            try:
                port.send(_TEST_SLIP + cut + b"\x1c.")
            except PosguardError:
                status = PrinterStatus.OFFLINE
            else:
                status = port.status()
        if status.code is not None and status is not PrinterStatus.PAPER_LOW:
            detail = f"printer reports {status.value}"
            if status is PrinterStatus.HARDWARE_FAULT:
                detail += " (unrecoverable error: power-cycle once, then repair or replace it)"
            return _report(
                check_id,
                CheckResult.FAIL,
                target.strip(),
                detail,
                status.code,
                _ms(t0),
            )
        ident = port.identify()
        prof = check_profile(profile, ident)
        if not prof.matches:
            return _report(
                check_id, CheckResult.FAIL, target.strip(), prof.detail, prof.code, _ms(t0)
            )
        if status is PrinterStatus.PAPER_LOW:
            return _report(
                check_id,
                CheckResult.WARN,
                target.strip(),
                "paper roll nearly used up",
                "PRN.PAPER_LOW",
                _ms(t0),
            )
        what = "test slip printed" if check_id == "printer.test_print" else "online, paper ok"
        if settings.kind == "file":
            what += " (a file port has no status channel: only liveness is known)"
        return _report(
            check_id, CheckResult.PASS, target.strip(), f"{what}; {prof.detail}", ms=_ms(t0)
        )
    finally:
        port.close()


# -- terminal ---------------------------------------------------------------------------
def _config_check(check_id: str, cfg: DoctorConfig) -> CheckReport:
    t = cfg.terminal
    target = f"terminal {t.terminal_id}"
    problems: list[tuple[str, str]] = []  # (code, what)
    if not t.merchant_name.strip():
        problems.append(("CFG.MERCHANT_INFO", "merchant_name is empty: slips show the ID only"))
    addresses = [h.address for h in t.hosts]
    if len(set(addresses)) != len(addresses):
        problems.append(("CFG.HOST_ADDRESS", "two hosts have the same address: no real backup"))
    for h in t.hosts:
        for label, f in (("ca_file", h.tls.ca_file), ("cert_file", h.tls.cert_file)):
            if h.tls.enabled and f is not None and not f.is_file():
                problems.append(("NET.TLS_FAILURE", f"host {h.name}: TLS {label} {f} is missing"))
    if cfg.printer is not None:
        try:
            load_profile(cfg.printer.profile)
        except ConfigError as exc:
            problems.append(("PRN.WRONG_PROFILE", exc.message))
    if not problems:
        return _report(
            check_id, CheckResult.PASS, target, f"{len(t.hosts)} host(s), parameters consistent"
        )
    fatal = [p for p in problems if p[0] != "CFG.MERCHANT_INFO"]
    code, _ = (fatal or problems)[0]
    result = CheckResult.FAIL if fatal else CheckResult.WARN
    return _report(check_id, result, target, "; ".join(w for _, w in problems), code)


def _storage_check(check_id: str, cfg: DoctorConfig) -> CheckReport:
    where = cfg.terminal.journal_path.resolve().parent
    target = f"journal dir {where}"
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=where, prefix=".doctor-") as f:
            f.write(b"x")
            f.flush()
            os.fsync(f.fileno())
        usage = shutil.disk_usage(where)
    except OSError as exc:
        return _report(
            check_id, CheckResult.FAIL, target, f"not writable: {exc}", "SW.STORAGE_FULL"
        )
    free = usage.free / usage.total if usage.total else 0.0
    detail = f"{usage.free / 2**30:.1f} GiB free ({free:.0%})"
    if free < STORAGE_FAIL_FREE:
        return _report(check_id, CheckResult.FAIL, target, detail, "SW.STORAGE_FULL")
    if free < STORAGE_WARN_FREE:
        return _report(check_id, CheckResult.WARN, target, detail, "SW.STORAGE_FULL")
    return _report(check_id, CheckResult.PASS, target, detail + ", writable")


def _reversals_check(check_id: str, cfg: DoctorConfig) -> CheckReport:
    from posguard.terminal.journal.store import Journal

    t = cfg.terminal
    target = f"journal {t.journal_path}"
    if not t.journal_path.exists():
        return _report(check_id, CheckResult.PASS, target, "no journal yet: nothing pending")
    try:
        journal = Journal.open(t.journal_path, key=t.vault_key_bytes(), terminal_id=t.terminal_id)
    except PosguardError as exc:
        return _report(check_id, CheckResult.UNAVAILABLE, target, f"cannot read: {exc.message}")
    try:
        pending = journal.pending_reversals()
    finally:
        journal.close()
    if not pending:
        return _report(check_id, CheckResult.PASS, target, "no reversal waiting")
    worst = max(r.reversal_attempts for r in pending)
    detail = (
        f"{len(pending)} reversal(s) waiting, STAN {', '.join(r.stan for r in pending[:5])}; "
        f"most tries {worst}"
    )
    result = CheckResult.FAIL if worst >= STUCK_REVERSAL_ATTEMPTS else CheckResult.WARN
    return _report(check_id, result, target, detail, "RECON.REVERSAL_PENDING")


_TERMINAL_RUNNERS: Final = {
    "terminal.config_valid": _config_check,
    "terminal.storage": _storage_check,
    "terminal.pending_reversals": _reversals_check,
}


# -- running -----------------------------------------------------------------------------
_WORST: Final = {
    CheckResult.FAIL: 3,
    CheckResult.WARN: 2,
    CheckResult.PASS: 1,
    CheckResult.UNAVAILABLE: 0,
}


def _aggregate(check_id: str, items: list[CheckReport]) -> CheckReport:
    """One finding over all hosts, as the catalog check defines it."""
    usable = [i for i in items if i.result is not CheckResult.UNAVAILABLE]
    if not usable:
        return CheckReport(
            check_id, CheckResult.UNAVAILABLE, "all hosts", items[0].detail, items=tuple(items)
        )
    failed = [i for i in usable if i.result is CheckResult.FAIL]
    per_host = ("doctor.tcp_connect", "doctor.iso_echo", "doctor.round_trip")
    if check_id in per_host and failed and len(failed) < len(usable):
        # the primary (or some host) is down, a backup works
        first = failed[0]
        detail = f"{first.target}: {first.detail}; a backup host works"
        return CheckReport(
            check_id,
            CheckResult.WARN,
            "all hosts",
            detail,
            first.code,
            None,
            first.next_step,
            tuple(items),
        )
    worst = max(usable, key=lambda i: _WORST[i.result])
    detail = "; ".join(f"{i.target}: {i.detail}" for i in items)
    return CheckReport(
        check_id,
        worst.result,
        "all hosts",
        detail,
        worst.code,
        worst.duration_ms,
        worst.next_step,
        tuple(items),
    )


async def arun_check(check_id: str, config: DoctorConfig) -> CheckReport:
    """One check over every configured host (or the printer), as one finding."""
    if check_id not in CHECKS or check_id not in ALL_CHECKS:
        raise ValueError(f"unknown doctor check {check_id!r}; known: {', '.join(ALL_CHECKS)}")
    if check_id in PRINTER_CHECKS:
        return await asyncio.to_thread(_printer_check, check_id, config)
    if check_id in TERMINAL_CHECKS:
        return await asyncio.to_thread(_TERMINAL_RUNNERS[check_id], check_id, config)
    items = [await _host_check(check_id, config, h) for h in config.terminal.hosts]
    return _aggregate(check_id, items)


async def arun_all(config: DoctorConfig) -> list[CheckReport]:
    """Every check, per host, in checklist order; later stages are skipped after a failure."""
    out: list[CheckReport] = []
    for host in config.terminal.hosts:
        broken: CheckReport | None = None
        for check_id in HOST_CHECKS:
            if broken is not None:
                out.append(
                    _report(
                        check_id,
                        CheckResult.UNAVAILABLE,
                        f"{host.name} {host.address}",
                        f"skipped: {broken.check_id} failed",
                    )
                )
                continue
            rep = await _host_check(check_id, config, host)
            out.append(rep)
            if rep.result is CheckResult.FAIL:
                broken = rep
    for check_id in ("printer.status",):
        out.append(await asyncio.to_thread(_printer_check, check_id, config))
    for check_id in TERMINAL_CHECKS:
        out.append(await asyncio.to_thread(_TERMINAL_RUNNERS[check_id], check_id, config))
    return out


def _run_sync(coro_factory: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        return await coro_factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # called from inside an event loop
        return pool.submit(asyncio.run, main()).result()


def run_check(check_id: str, config: DoctorConfig) -> CheckReport:
    """Synchronous :func:`arun_check` (safe to call from inside a running event loop)."""
    result: CheckReport = _run_sync(lambda: arun_check(check_id, config))
    return result


def run_all(config: DoctorConfig) -> list[CheckReport]:
    result: list[CheckReport] = _run_sync(lambda: arun_all(config))
    return result


def report_json(reports: list[CheckReport], config: DoctorConfig) -> str:
    failed = [r for r in reports if r.result is CheckResult.FAIL]
    return json.dumps(
        {
            "terminal_id": config.terminal.terminal_id,
            "at": datetime.now().astimezone().isoformat(timespec="seconds"),
            "ok": not failed,
            "checks": [r.to_json() for r in reports],
        },
        ensure_ascii=False,
        indent=2,
    )


def print_report(reports: list[CheckReport], console: Any, lang: str = "zh") -> bool:
    """Render ``reports`` as a Rich table plus the next steps of what failed; True if all ok."""
    from rich.table import Table

    marks = {
        CheckResult.PASS: "[green]✔ pass[/]",
        CheckResult.WARN: "[yellow]▲ warn[/]",
        CheckResult.FAIL: "[red]✘ fail[/]",
        CheckResult.UNAVAILABLE: "[dim]– n/a[/]",
    }
    zh = lang.startswith("zh")
    table = Table(title="posguard terminal doctor · 终端体检", show_lines=False)
    for col in (
        "检查 check" if zh else "check",
        "对象 target" if zh else "target",
        "结果 result" if zh else "result",
        "代码 code" if zh else "code",
        "ms",
        "详情 detail" if zh else "detail",
    ):
        table.add_column(col, overflow="fold")
    for r in reports:
        title = CHECKS[r.check_id].title.get(lang) if r.check_id in CHECKS else r.check_id
        table.add_row(
            f"{r.check_id}\n[dim]{title}[/]",
            r.target,
            marks[r.result],
            r.code or "",
            "" if r.duration_ms is None else f"{r.duration_ms:.0f}",
            r.detail,
        )
    console.print(table)
    problems = [r for r in reports if r.result in (CheckResult.FAIL, CheckResult.WARN) and r.code]
    for r in problems:
        step = r.next_step or {}
        entry = default_catalog().get(r.code or "")
        name = entry.title.get(lang) if entry else r.code
        console.print(f"[bold]{r.code}[/] {name} — {r.target}")
        if step:
            console.print(f"  下一步 next step: {step.get('zh', '')}")
            console.print(f"  {step.get('en', '')}")
    return not any(r.result is CheckResult.FAIL for r in reports)
