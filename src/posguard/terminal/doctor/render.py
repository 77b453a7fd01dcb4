"""The doctor's report for people (a Rich table in zh or en, then each next step once) and
for machines (JSON)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from posguard.catalog.checks import CHECKS, CheckResult
from posguard.catalog.loader import default_catalog
from posguard.terminal.doctor.config import DoctorConfig
from posguard.terminal.doctor.report import CheckReport

_MARKS: Final = {
    CheckResult.PASS: "[green]✔ pass[/]",
    CheckResult.WARN: "[yellow]▲ warn[/]",
    CheckResult.FAIL: "[red]✘ fail[/]",
    CheckResult.UNAVAILABLE: "[dim]– n/a[/]",
}


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
    """Render ``reports`` as a Rich table plus the next steps of what failed or warns (each
    step once, naming every target it is for); True if nothing failed."""
    from rich.table import Table

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
            _MARKS[r.result],
            r.code or "",
            "" if r.duration_ms is None else f"{r.duration_ms:.0f}",
            r.sentence.get(lang),
        )
    console.print(table)
    # one block per (code, next step): a host failing three stages is told once what to do
    advice: dict[tuple[str, str, str], list[str]] = {}
    for r in reports:
        if r.result in (CheckResult.FAIL, CheckResult.WARN) and r.code:
            step = r.next_step or {}
            key = (r.code, step.get("zh", ""), step.get("en", ""))
            targets = advice.setdefault(key, [])
            if r.target not in targets:
                targets.append(r.target)
    for (code, step_zh, step_en), targets in advice.items():
        entry = default_catalog().get(code)
        name = entry.title.get(lang) if entry else code
        console.print(f"[bold]{code}[/] {name} — {', '.join(targets)}")
        if step_zh or step_en:
            console.print(f"  下一步 next step: {step_zh}")
            console.print(f"  {step_en}")
    return not any(r.result is CheckResult.FAIL for r in reports)
