"""The printer checks, over the sale's own printing path: the configured port, the
renderer of the configured profile (its code page and its cutter: a full-cut printer gets a
full cut) and :func:`~posguard.terminal.printer.queue.print_slip`, the step a queued
receipt goes through, so a printer fault is named by the code a sale's slip reports.

============== ==============================================================
printer.status DLE EOT status and liveness of the printer, and its profile (GS I)
printer.test_print  print a short test slip and read the printer's state after it
============== ==============================================================
"""

from __future__ import annotations

import time
from typing import Final

from posguard.catalog import Text
from posguard.catalog.checks import CheckResult
from posguard.common.errors import PosguardError
from posguard.terminal.doctor.config import DoctorConfig
from posguard.terminal.doctor.report import CheckReport, finding
from posguard.terminal.doctor.sentences import say
from posguard.terminal.printer.profiles import check_profile, load_profile
from posguard.terminal.printer.queue import print_slip
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.printer.status import PrinterStatus

TEST_SLIP_LINES: Final = ("posguard 打印测试", "TEST PRINT")

_STATUS_TEXT: Final[dict[PrinterStatus, tuple[str, str]]] = {
    PrinterStatus.PAPER_OUT: (
        "打印机缺纸，请装入新纸卷",
        "the printer is out of paper: load a new roll",
    ),
    PrinterStatus.COVER_OPEN: ("打印机盖没有关好", "the printer cover is open: close it"),
    PrinterStatus.CUTTER_JAM: ("切刀处卡纸", "paper is jammed at the cutter"),
    PrinterStatus.OVERHEAT: (
        "打印头过热，冷却后自动恢复",
        "the print head is too hot; it recovers once it cools down",
    ),
    PrinterStatus.HARDWARE_FAULT: (
        "打印机出现不可恢复的故障：断电重启一次，仍不行请报修或更换",
        "the printer reports an unrecoverable error: power-cycle it once, then repair or "
        "replace it",
    ),
    PrinterStatus.OFFLINE: (
        "打印机 {where} 没有响应（离线、断电或连线松了）",
        "the printer at {where} does not answer (offline, switched off or unplugged)",
    ),
    PrinterStatus.PAPER_LOW: ("纸卷快用完了", "the paper roll is nearly used up"),
}


def _said(status: PrinterStatus, where: str) -> Text:
    zh, en = _STATUS_TEXT[status]
    return say(zh.format(where=where), en.format(where=where))


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _check(check_id: str, cfg: DoctorConfig) -> CheckReport:
    settings = cfg.printer
    if settings is None:
        text = say("未配置打印机", "no printer configured")
        return finding(check_id, CheckResult.UNAVAILABLE, "printer", text)
    target = f"printer {settings.kind} {settings.where}".strip()
    t0 = time.perf_counter()
    try:
        port = settings.open_port()
        profile = load_profile(settings.profile)
    except PosguardError as exc:
        text = say(
            f"打印机配置不可用：{exc.message}", f"the printer settings are unusable: {exc.message}"
        )
        return finding(check_id, CheckResult.FAIL, target, text, "PRN.OFFLINE", _ms(t0))
    try:
        status = port.status()
        if check_id == "printer.test_print" and status.can_print:
            slip = ReceiptRenderer(profile).render_lines(TEST_SLIP_LINES)
            status = print_slip(port, slip)
        if status.code is not None and status is not PrinterStatus.PAPER_LOW:
            return finding(
                check_id,
                CheckResult.FAIL,
                target,
                _said(status, settings.where),
                status.code,
                _ms(t0),
            )
        prof = check_profile(profile, port.identify())
        if not prof.matches:
            text = say(f"打印机与配置的型号（{profile.name}）不符：{prof.detail}", prof.detail)
            return finding(check_id, CheckResult.FAIL, target, text, prof.code, _ms(t0))
        if status is PrinterStatus.PAPER_LOW:
            text = _said(status, settings.where)
            return finding(check_id, CheckResult.WARN, target, text, status.code, _ms(t0))
        printed = check_id == "printer.test_print"
        zh = "测试页已打印" if printed else "在线，有纸"
        en = "test slip printed" if printed else "online, paper ok"
        if settings.kind == "file":
            zh += "（文件端口没有状态通道，只知道能写入）"
            en += " (a file port has no status channel: only liveness is known)"
        return finding(
            check_id,
            CheckResult.PASS,
            target,
            say(f"{zh}；{prof.detail}", f"{en}; {prof.detail}"),
            ms=_ms(t0),
        )
    finally:
        port.close()


def printer_status(cfg: DoctorConfig) -> CheckReport:
    return _check("printer.status", cfg)


def print_test_slip(cfg: DoctorConfig) -> CheckReport:
    return _check("printer.test_print", cfg)
