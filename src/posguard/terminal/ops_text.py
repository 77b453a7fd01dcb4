"""What ``posguard terminal printer status`` and ``posguard terminal supervise`` print, in
Chinese and English (zh by default, en with ``--lang en``). The machine values a script or a
support ticket quotes (``paper_out``, ``PRN.PAPER_OUT``, ``crash_loop``) stay in the line.

>>> printer_line("paper_out", "PRN.PAPER_OUT", "en")
'printer: out of paper (paper_out, PRN.PAPER_OUT)'
>>> printer_line("ok", None, "zh")
'打印机：正常（ok）'
>>> supervisor_summary(2, 0, 1, None, "zh")
'看门狗结束：启动 2 次，卡死 0 次，崩溃 1 次'
"""

from __future__ import annotations

from typing import Final

PRINTER_STATES: Final[dict[str, tuple[str, str]]] = {
    "ok": ("正常", "ready"),
    "paper_low": ("纸快用完了", "paper low"),
    "paper_out": ("缺纸", "out of paper"),
    "cover_open": ("纸仓盖没关好", "cover open"),
    "cutter_jam": ("切刀卡住", "cutter jammed"),
    "overheat": ("打印头过热", "print head overheated"),
    "hardware_fault": ("硬件故障", "hardware fault"),
    "offline": ("离线（没有应答）", "offline (no answer)"),
    "wrong_profile": ("打印机型号与配置不符", "wrong printer profile"),
}
"""Every :class:`~posguard.terminal.printer.status.PrinterStatus` value, zh and en."""

FINAL_STATES: Final[dict[str, tuple[str, str]]] = {
    "crash_loop": ("反复崩溃，已停止重启", "crash loop, no longer restarted"),
    "gave_up": ("重启次数用尽，已停止", "gave up restarting"),
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def printer_line(state: str, code: str | None, lang: str) -> str:
    """The printer's state in words, with its value and catalog code."""
    words = _pick(PRINTER_STATES.get(state, (state, state)), lang)
    tail = (
        ", ".join(x for x in (state, code) if x)
        if lang == "en"
        else "，".join(x for x in (state, code) if x)
    )
    return f"printer: {words} ({tail})" if lang == "en" else f"打印机：{words}（{tail}）"


def printer_identity(model: str | None, model_id: object, maker: str | None, lang: str) -> str:
    """What the printer says it is (GS I)."""
    if lang == "en":
        return f"model {model or '?'} id {model_id} maker {maker or '?'}"
    return f"型号 {model or '?'}，型号编号 {model_id}，厂商 {maker or '?'}"


def no_fleet_warning(lang: str) -> str:
    """``supervise`` without ``--config`` / ``--outbox``: the fleet will not hear of faults."""
    if lang == "en":
        return (
            "warning: no --config or --outbox: DEV.FREEZE / SW.CRASH are only logged, "
            "not reported to the fleet"
        )
    return "警告：没有 --config 或 --outbox：DEV.FREEZE / SW.CRASH 只写日志，不会报告给终端管理服务"


def supervisor_summary(
    starts: int, freezes: int, crashes: int, final: str | None, lang: str
) -> str:
    """The supervisor's last line: what it did, and the final state it stopped in."""
    if lang == "en":
        line = f"supervisor: {starts} start(s), {freezes} freeze(s), {crashes} crash(es)"
        return line + (f", stopped: {final}" if final else "")
    line = f"看门狗结束：启动 {starts} 次，卡死 {freezes} 次，崩溃 {crashes} 次"
    if final:
        line += f"，最终状态：{_pick(FINAL_STATES.get(final, (final, final)), lang)}（{final}）"
    return line
