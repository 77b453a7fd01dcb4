"""The doctor's checks in one registry (id -> group and runner), and running them.

The ids are :data:`posguard.catalog.checks.CHECKS` ids, the ones catalog steps and the
knowledge-base wizard name. ``run_check(check_id, config)`` runs one check over every host
(for the wizard); ``run_all(config)`` runs the checklist, one line per host.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from posguard.catalog.checks import CHECKS, CheckResult
from posguard.terminal.config import HostEndpoint
from posguard.terminal.doctor import host_checks, local_checks, printer_checks
from posguard.terminal.doctor.config import DoctorConfig
from posguard.terminal.doctor.report import CheckReport, aggregate, skipped

HostRunner = Callable[[DoctorConfig, HostEndpoint], Awaitable[CheckReport]]
LocalRunner = Callable[[DoctorConfig], CheckReport]


class Group(StrEnum):
    HOST = "host"  # run per configured host, over the sale's channel
    PRINTER = "printer"
    LOCAL = "local"  # the terminal's own configuration, disk and journal


@dataclass(frozen=True, slots=True)
class DoctorCheck:
    id: str
    group: Group
    per_host: HostRunner | None = None
    local: LocalRunner | None = None
    in_checklist: bool = True  # part of ``run_all`` (the test print is asked for by name)


REGISTRY: Final[dict[str, DoctorCheck]] = {
    c.id: c
    for c in (
        DoctorCheck("doctor.dns", Group.HOST, per_host=host_checks.dns),
        DoctorCheck("doctor.tcp_connect", Group.HOST, per_host=host_checks.tcp_connect),
        DoctorCheck("doctor.tls_handshake", Group.HOST, per_host=host_checks.tls_handshake),
        DoctorCheck("doctor.iso_echo", Group.HOST, per_host=host_checks.iso_echo),
        DoctorCheck("doctor.round_trip", Group.HOST, per_host=host_checks.round_trip),
        DoctorCheck("printer.status", Group.PRINTER, local=printer_checks.printer_status),
        DoctorCheck(
            "printer.test_print",
            Group.PRINTER,
            local=printer_checks.print_test_slip,
            in_checklist=False,
        ),
        DoctorCheck("terminal.config_valid", Group.LOCAL, local=local_checks.config_valid),
        DoctorCheck("terminal.storage", Group.LOCAL, local=local_checks.storage),
        DoctorCheck(
            "terminal.pending_reversals", Group.LOCAL, local=local_checks.pending_reversals
        ),
    )
}


def _ids(group: Group) -> tuple[str, ...]:
    return tuple(c.id for c in REGISTRY.values() if c.group is group)


HOST_CHECKS: Final = _ids(Group.HOST)
PRINTER_CHECKS: Final = _ids(Group.PRINTER)
TERMINAL_CHECKS: Final = _ids(Group.LOCAL)
ALL_CHECKS: Final = tuple(REGISTRY)


async def _run_local(check: DoctorCheck, config: DoctorConfig) -> CheckReport:
    assert check.local is not None
    return await asyncio.to_thread(check.local, config)


async def arun_check(check_id: str, config: DoctorConfig) -> CheckReport:
    """One check over every configured host (or the printer, or the terminal), as one finding."""
    check = REGISTRY.get(check_id)
    if check is None or check_id not in CHECKS:
        raise ValueError(f"unknown doctor check {check_id!r}; known: {', '.join(ALL_CHECKS)}")
    if check.per_host is None:
        return await _run_local(check, config)
    items = [await check.per_host(config, h) for h in config.terminal.hosts]
    return aggregate(check_id, items)


async def arun_all(config: DoctorConfig) -> list[CheckReport]:
    """The checklist, per host, in order; a host's later stages are skipped after a failure."""
    out: list[CheckReport] = []
    host_checks_ = [c for c in REGISTRY.values() if c.group is Group.HOST]
    for host in config.terminal.hosts:
        broken: CheckReport | None = None
        for check in host_checks_:
            if broken is not None:
                out.append(skipped(check.id, host_checks.target_of(host), broken.check_id))
                continue
            assert check.per_host is not None
            report = await check.per_host(config, host)
            out.append(report)
            if report.result is CheckResult.FAIL:
                broken = report
    for check in REGISTRY.values():
        if check.group is not Group.HOST and check.in_checklist:
            out.append(await _run_local(check, config))
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
