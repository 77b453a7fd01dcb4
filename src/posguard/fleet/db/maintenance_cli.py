"""`posguard fleet maintenance partitions`: keep the events table's day partitions (PostgreSQL)
ahead of time and drop the days past retention (:mod:`posguard.fleet.db.partitions`). Safe to
run as often as you like (cron, a systemd timer): a second run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from posguard.common.errors import ConfigError

app = typer.Typer(help="Database upkeep / 数据库维护.", no_args_is_help=True)


@app.command()
def partitions(
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (default: POSGUARD_FLEET_DATABASE_URL)."),
    ] = None,
    ahead: Annotated[
        int, typer.Option(min=0, max=366, help="Days ahead to create (from today, UTC).")
    ] = 7,
    retention: Annotated[
        int,
        typer.Option("--retention-days", min=1, help="Drop day partitions wholly older than this."),
    ] = 30,
) -> None:
    """Create the events table's day partitions ahead and drop those past retention /
    预建事件表的按日分区并删除超过保留期的分区."""
    from posguard.fleet.config import FleetSettings
    from posguard.fleet.db.engine import make_engine
    from posguard.fleet.db.partitions import maintain

    url = db or FleetSettings().database_url
    engine = make_engine(url)
    try:
        report = maintain(
            engine, today=datetime.now(UTC).date(), ahead_days=ahead, retention_days=retention
        )
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        first = (str(orig).strip().splitlines() or [""])[0]
        typer.echo(f"error: partition maintenance: {type(orig).__name__}: {first}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    for line in report.lines():
        typer.echo(line)
