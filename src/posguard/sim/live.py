"""The live terminal view of the demo (Rich): transactions, faults handled, reversals,
incidents opened and cleared, the timeline's progress and the dashboard address."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from posguard.sim.fleet_embed import IncidentView
from posguard.sim.inject import Played
from posguard.sim.stats import DemoStats


def render(
    stats: DemoStats,
    played: Sequence[Played],
    incidents: Sequence[IncidentView],
    *,
    t: float,
    duration: float,
    terminals: int,
    dashboard: str,
    user: str,
    password: str,
) -> Group:
    head = Text.assemble(
        ("posguard demo ", "bold"),
        f"{t:5.1f}/{duration:.0f} s  ·  {terminals} terminals  ·  dashboard 管理台: ",
        (dashboard, "underline cyan"),
        f"  (user {user} / password {password})",
    )
    txn = Table(title="transactions 交易", expand=True)
    txn.add_column("outcome 结果")
    txn.add_column("count", justify="right")
    for outcome in ("approved", "declined", "reversed", "pending_reversal", "failed_no_charge"):
        txn.add_row(outcome, str(stats.outcomes.get(outcome, 0)))
    txn.add_row(
        "reversals acked 冲正成功", str(stats.reversals.get("acknowledged", 0)), style="green"
    )
    txn.add_row("amount approved 金额", f"¥{stats.amount_approved / 100:,.2f}")

    faults = Table(title="faults on the timeline 故障时间线", expand=True)
    for col in ("fault", "code", "terminals", "state"):
        faults.add_column(col)
    for p in played:
        state = "[yellow]active 进行中[/]" if p.active else "[green]over 已结束[/]"
        faults.add_row(p.event.fault.value, p.event.fault.code, str(len(p.terminals)), state)

    inc = Table(title="fleet incidents 工单", expand=True)
    for col in ("#", "rule", "code", "scope", "status"):
        inc.add_column(col)
    for i in list(incidents)[-8:]:
        colour = "green" if i.status == "resolved" else "red" if i.status == "open" else "white"
        inc.add_row(str(i.id), i.rule_id, i.code, i.scope, f"[{colour}]{i.status}[/]")
    opened = len(incidents)
    resolved = sum(1 for i in incidents if i.status == "resolved")
    inc.caption = f"{opened} opened, {resolved} cleared / 已开 {opened}, 已清 {resolved}"

    seen = Table(title="faults seen by terminals 终端上报", expand=True)
    seen.add_column("code")
    seen.add_column("events", justify="right")
    seen.add_column("cleared", justify="right")
    for code, n in stats.faults.most_common(8):
        seen.add_row(code, str(n), str(stats.cleared.get(code, 0)))

    grid = Table.grid(expand=True)
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_row(txn, seen)
    grid.add_row(faults, inc)
    log = Panel("\n".join(stats.log) or "…", title="what just happened 动态", height=14)
    return Group(
        head,
        grid,
        log,
        Text("Ctrl-C stops cleanly and writes the report / 按 Ctrl-C 结束并生成报告"),
    )


def progress_line(
    stats: DemoStats,
    played: Sequence[Played],
    incidents: Sequence[IncidentView],
    *,
    t: float,
    duration: float,
) -> str:
    """One plain line of progress for output that is not a terminal (CI, ``| tee``), where a
    live view would print nothing until the end; under 80 columns for the usual figures.

    >>> progress_line(DemoStats(), [], [], t=12.3, duration=60)
    ' 12/60s 0 approved, 0 declined, 0 reversed; 0 faults; 0/0 incidents open'
    """
    outcomes = stats.outcomes
    active = sum(1 for p in played if p.active)
    opened = len(incidents)
    still_open = sum(1 for i in incidents if i.status != "resolved")
    return (
        f"{t:3.0f}/{duration:.0f}s {outcomes.get('approved', 0)} approved, "
        f"{outcomes.get('declined', 0)} declined, {outcomes.get('reversed', 0)} reversed; "
        f"{active} faults; {still_open}/{opened} incidents open"
    )
