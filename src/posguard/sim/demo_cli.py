"""The ``posguard demo`` command: run the demo, show it live, print and save the report."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from posguard.cli_support.errors import guarded
from posguard.cli_support.lang import LangOption

if TYPE_CHECKING:  # the fleet (uvicorn, FastAPI) loads only when the demo runs
    from posguard.sim.fleet_embed import EmbeddedFleet
    from posguard.sim.report import DemoReport


@guarded
def demo(
    duration: Annotated[
        float | None,
        typer.Option(min=5, help="Play the timeline in this many seconds (default: as written)."),
    ] = None,
    terminals: Annotated[
        int, typer.Option(min=2, max=200, help="Full virtual terminals / 虚拟终端数量.")
    ] = 24,
    light: Annotated[
        int,
        typer.Option(
            min=0,
            max=200_000,
            help="Light terminals for volume (their events go straight into the fleet) / "
            "轻量终端数量.",
        ),
    ] = 0,
    headless: Annotated[
        bool, typer.Option("--headless", help="No live view; print the report at the end.")
    ] = False,
    timeline: Annotated[
        Path | None, typer.Option(help="Fault timeline YAML (default: the shipped story).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where to leave the report and databases.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the estate and the shoppers.")] = 11,
    keep_serving: Annotated[
        bool,
        typer.Option(
            "--keep-serving",
            help="After the story, keep the fleet service and dashboard running (login "
            "printed) until Ctrl-C / 演示结束后保持管理服务与管理台运行，按 Ctrl-C 停止.",
        ),
    ] = False,
    lang: LangOption = None,
) -> None:
    """Run posguard end to end: host, fault proxy, fleet service and terminals, with faults /
    演示：主机、故障代理、管理服务与虚拟终端，按时间线注入故障."""
    from posguard.common.errors import PosguardError
    from posguard.sim.demo import DemoOptions, run_demo

    console = Console()
    opts = DemoOptions(
        terminals=terminals,
        light=light,
        duration=duration,
        timeline=timeline,
        out=out,
        headless=headless,
        seed=seed,
    )

    served = False

    async def serve(report: DemoReport, fleet: EmbeddedFleet) -> None:
        nonlocal served
        served = True
        _summary(console, report)
        await _keep_serving(console, fleet)

    async def main() -> DemoReport:
        stop = asyncio.Event()
        _on_signals(stop)
        return await run_demo(
            opts, stop=stop, console=console, serve=serve if keep_serving else None
        )

    try:
        report = asyncio.run(main())
    except PosguardError as exc:
        console.print(f"[red]demo failed / 演示失败:[/] {exc}")
        raise typer.Exit(2) from exc
    if served:
        console.print(
            "fleet service and dashboard stopped / 管理服务与管理台已停止", highlight=False
        )
    else:
        _summary(console, report)
    raise typer.Exit(0 if report.clean else 1)


def _on_signals(event: asyncio.Event) -> None:
    """Ctrl-C and SIGTERM set ``event`` (the last call's event wins)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, event.set)


async def _keep_serving(console: Console, fleet: EmbeddedFleet) -> None:
    """Print the dashboard's login and wait for Ctrl-C (or SIGTERM)."""
    from posguard.sim.fleet_embed import DASHBOARD_USER

    done = asyncio.Event()
    _on_signals(done)
    console.print(
        f"dashboard 管理台: {fleet.dashboard_url}  user 用户 {DASHBOARD_USER}  "
        f"password 密码 {fleet.password}",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    console.print(
        f"API: {fleet.base_url}/api/v1 · still serving; Ctrl-C to stop / 服务中，按 Ctrl-C 停止",
        soft_wrap=True,
        highlight=False,
    )
    await done.wait()
    console.print("stopping / 正在停止 ...", highlight=False)


def _summary(console: Console, r: object) -> None:
    from posguard.sim.report import DemoReport

    assert isinstance(r, DemoReport)
    _fault_table(console, r)
    rec = r.reconciliation
    approved = r.transactions.get("approved", 0)
    console.print(
        f"transactions 交易: {sum(r.transactions.values())} ({approved} approved, "
        f"¥{r.amount_approved_fen / 100:,.2f}); reversals 冲正: "
        f"{r.reversals.get('acknowledged', 0)} acknowledged, {r.reversals_left} left; "
        f"incidents 工单: {len(r.incidents)} opened, "
        f"{sum(1 for i in r.incidents if i['status'] == 'resolved')} cleared"
    )
    console.print(
        f"reconciliation 对账: {rec['host_rows']} host rows vs {rec['journal_rows']} journal rows "
        f"on {rec['terminals']} terminals: [bold]{rec['differences']} differences[/], "
        f"{rec.get('exceptions', 0)} host exceptions 差错; "
        f"clear card numbers in fleet DB and logs: {r.pan_scan['clear_pans_found']}"
    )
    if r.session_declines:
        console.print(
            f"[red]{r.session_declines} sales declined by the terminals' own host session "
            "(A0 MAC, 77 sign-on) 终端与主机会话错误导致拒绝[/]"
        )
    if r.light is not None:
        lt = r.light
        console.print(
            f"light fleet 轻量终端: {lt['terminals']} terminals, {lt['events']} events, "
            f"{lt['stored']} stored, {lt['rejected']} rejected"
        )
    ws = r.wear_story
    if ws is not None and ws["flagged_at"] is not None:
        after = ws["flagged_before_failure_s"]
        console.print(
            f"wearing printer 磨损打印机: {ws['terminal_id']} on the visit list of {ws['area']} "
            f"(risk {ws['risk']:.0%})"
            + (f", {after:g} s before it failed 损坏前已预警" if after is not None else ""),
            highlight=False,
        )
    st = r.settlement
    console.print(f"settlement 结算: {st['balanced']}/{st['terminals']} batches balanced 平账")
    # one path a line: a path folded in the middle cannot be copied
    console.print("report 报告:", f"{r.out_dir}/report.json", soft_wrap=True, highlight=False)
    console.print("fleet DB:", str(r.databases["fleet"]), soft_wrap=True, highlight=False)
    console.print("host ledger:", str(r.databases["host_ledger"]), soft_wrap=True, highlight=False)
    verdict = "[green]clean / 全部正常[/]" if r.clean else "[red]NOT clean / 存在问题[/]"
    console.print(f"result 结论: {verdict}" + (" (stopped early)" if r.stopped_early else ""))


WIDE_REPORT = 120
"""Below this many columns the report lists each fault as a block: a table of six columns
would cut the codes an operator must copy (``PRN.PAPER…``)."""


def _fault_table(console: Console, r: object) -> None:
    from posguard.sim.report import DemoReport

    assert isinstance(r, DemoReport)
    if console.width < WIDE_REPORT:
        console.print("[bold]posguard demo report / 演示报告[/]")
        for f in r.faults:
            handled = (
                "[green]handled 已自动处理[/]" if f.handled else "[yellow]not handled 未处理[/]"
            )
            incidents = ", ".join(f"#{i}" for i in f.incidents) or "-"
            console.print(
                f"- {f.fault}  {f.code}  ({len(f.terminals)} terminals 终端) · {handled} · "
                f"incidents 工单 {incidents}",
                highlight=False,
            )
            console.print(f"  {f.how}", highlight=False, markup=False)
        return
    t = Table(title="posguard demo report / 演示报告", show_lines=False)
    t.add_column("fault 故障", no_wrap=True)
    t.add_column("code", no_wrap=True)
    t.add_column("terminals", justify="right")
    t.add_column("handled 自动处理")
    t.add_column("incidents 工单")
    t.add_column("how 经过")
    for f in r.faults:
        t.add_row(
            f.fault,
            f.code,
            str(len(f.terminals)),
            "[green]yes[/]" if f.handled else "[yellow]no[/]",
            ", ".join(f"#{i}" for i in f.incidents) or "-",
            f.how,
        )
    console.print(t)
