"""`posguard fleet maintenance partitions`: keep the events table's day partitions (PostgreSQL)
ahead of time and drop the days past retention (:mod:`posguard.fleet.db.partitions`). Safe to
run as often as you like (cron, a systemd timer): a second run changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from posguard.cli_support.errors import CliError, ExitCode, FaceApp
from posguard.cli_support.lang import LangOption
from posguard.common.errors import ConfigError
from posguard.fleet.network_report.rollup_cli import network_rollup

if TYPE_CHECKING:
    from posguard.fleet.db.partitions import MaintenanceReport

app = FaceApp(help="Database upkeep / 数据库维护.", no_args_is_help=True)
app.command("network-rollup")(network_rollup)


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
    lang: LangOption = None,
) -> None:
    """Create the day partitions of the events and heartbeat samples tables ahead and drop
    those past retention / 预建事件表和心跳采样表的按日分区并删除超过保留期的分区."""
    from posguard.fleet.cli_errors import db_error_text, fleet_settings
    from posguard.fleet.db.engine import make_engine
    from posguard.fleet.db.partitions import maintain

    url = db or fleet_settings().database_url
    engine = make_engine(url)
    try:
        report = maintain(
            engine, today=datetime.now(UTC).date(), ahead_days=ahead, retention_days=retention
        )
    except ConfigError as exc:  # not PostgreSQL: kept at exit 1, as before
        raise CliError(str(exc), f"分区维护：{exc}", exit_code=ExitCode.FINDINGS) from exc
    except SQLAlchemyError as exc:
        text = db_error_text(exc)
        raise CliError(
            f"partition maintenance: {text}",
            f"分区维护：数据库出错（{text}）",
            exit_code=ExitCode.UNAVAILABLE,
        ) from exc
    finally:
        engine.dispose()
    lines = report.lines() if lang == "en" else _zh_lines(report)
    for line in lines:
        typer.echo(line)


def _zh_lines(report: MaintenanceReport) -> list[str]:
    from posguard.fleet.db.partitions import DEFAULT_PARTITION

    def days(ds: list[date]) -> str:
        return "、".join(d.isoformat() for d in ds) or "无"

    return [
        f"新建：{days(report.created)}",
        f"删除（超过保留期）：{days(report.dropped)}",
        f"从 {DEFAULT_PARTITION} 移出的行：{report.moved_from_default}",
        f"留在 {DEFAULT_PARTITION} 的行：{report.default_rows}",
        f"按日分区数：{report.days}",
        f"心跳采样新建的日分区：{days(report.samples_created)}",
        f"心跳采样删除的日分区（超过保留期）：{days(report.samples_dropped)}",
        f"删除的心跳采样（超过保留期）：{report.samples_deleted}",
    ]
