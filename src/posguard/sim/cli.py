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


@app.command("network-history")
def network_history(
    db: Annotated[str, typer.Option(help="Fleet database URL (migrated).")],
    terminals: Annotated[int, typer.Option(min=1, max=100_000)] = 200,
    weeks: Annotated[int, typer.Option(min=1, max=26)] = 4,
    seed: Annotated[int, typer.Option()] = 1,
    txn_per_hour: Annotated[float, typer.Option(min=0.1, max=120)] = 4.0,
    lang: LangOption = None,
) -> None:
    """Store weeks of simulated network history (links, carriers, weak spots) for the network
    report / 生成网络质量仿真数据."""
    from datetime import UTC, datetime

    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.sim.network_history import play_network_history
    from posguard.sim.population import build_estate

    engine = make_engine(db)
    try:
        result = play_network_history(
            make_sessionmaker(engine),
            build_estate(terminals=terminals, seed=seed),
            until=datetime.now(UTC),
            weeks=weeks,
            seed=seed,
            txn_per_hour=txn_per_hour,
        )
    finally:
        engine.dispose()
    spots = ", ".join(f"{a} {c}" for a, c in result.network.weak_spots)
    if lang == "en":
        typer.echo(
            f"stored {result.stored} of {result.events} events ({result.rejected} rejected); "
            f"weak spots: {spots}"
        )
    else:
        typer.echo(
            f"已存 {result.events} 个事件中的 {result.stored} 个（拒收 {result.rejected} 个）；"
            f"薄弱点：{spots}"
        )
    if result.rejected:
        raise typer.Exit(1)
