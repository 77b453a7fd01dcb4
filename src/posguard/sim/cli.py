"""`posguard sim ...`: virtual fleets for load and scale runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from posguard.cli_support.errors import FaceApp
from posguard.cli_support.lang import LangOption

app = FaceApp(help="Virtual terminals and fleets / 虚拟终端与终端群.", no_args_is_help=True)


@app.command()
def scale(
    terminals: Annotated[int, typer.Option(min=1, help="How many light terminals.")] = 100_000,
    timeline: Annotated[Path | None, typer.Option(help="Timeline YAML (default story).")] = None,
    heartbeat: Annotated[float, typer.Option(help="Heartbeat interval, seconds.")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    lang: LangOption = None,
) -> None:
    """Play a timeline over many light terminals; report events/s and memory / 规模仿真."""
    from posguard.sim.scale import run_scale
    from posguard.sim.timeline import load_timeline

    report = run_scale(
        terminals=terminals, timeline=load_timeline(timeline), heartbeat_interval=heartbeat
    )
    figures = {
        "terminals": report.terminals,
        "simulated_s": report.simulated_s,
        "wall_s": round(report.wall_s, 3),
        "events": report.events,
        "events_per_s": round(report.events_per_s),
        "estate_build_s": round(report.build_s, 3),
        "peak_rss_mib": round(report.peak_rss_mib, 1),
        "by_kind": dict(report.stats.by_kind),
    }
    if as_json:
        typer.echo(json.dumps(figures, ensure_ascii=False))
        return
    table = Table("指标" if lang == "zh" else "figure", "数值" if lang == "zh" else "value")
    for k, v in figures.items():
        table.add_row(k, str(v))
    Console().print(table)
