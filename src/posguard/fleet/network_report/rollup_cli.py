"""``posguard fleet maintenance network-rollup``: bring the network report's daily and hourly
rollup up to date (``posguard.fleet.network_report.rollup``), and drop it past the events'
retention. Run it hourly (``deploy/systemd/posguard-fleet-network-rollup.timer``); a report is
right without it, only slower."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from posguard.cli_support.errors import CliError, ExitCode
from posguard.cli_support.lang import LangOption, resolve_lang


def network_rollup(
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (default: POSGUARD_FLEET_DATABASE_URL)."),
    ] = None,
    retention: Annotated[
        int,
        typer.Option(
            "--retention-days", min=1, help="Drop the rollup of days older than this (UTC)."
        ),
    ] = 30,
    lang: LangOption = None,
) -> None:
    """Count each ended day once for the network report, again when late data came /
    按日汇总网络报表数据（迟到数据会使该日重算）."""
    from posguard.fleet.cli_errors import db_error_text, fleet_settings
    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.network_report.rollup import ROLLUP_DAYS, delete_before, roll_up

    engine = make_engine(db or fleet_settings().database_url)
    now = datetime.now(UTC)
    try:
        sessions = make_sessionmaker(engine)
        dropped = delete_before(sessions, now.date() - timedelta(days=retention))
        built = roll_up(sessions, now, days=min(retention, ROLLUP_DAYS))
    except SQLAlchemyError as exc:
        text = db_error_text(exc)
        raise CliError(
            f"network rollup: {text}",
            f"网络报表汇总：数据库出错（{text}）",
            exit_code=ExitCode.UNAVAILABLE,
        ) from exc
    finally:
        engine.dispose()
    days = ", ".join(d.isoformat() for d in built.days) or "-"
    hours = len(built.hours)
    if resolve_lang(lang) == "en":
        typer.echo(
            f"network rollup: {len(built.days)} day(s) built ({days}), {hours} hour(s) of the "
            f"days since; {dropped} old row(s) dropped"
        )
    else:
        typer.echo(
            f"网络报表汇总：重算 {len(built.days)} 天（{days}），其后 {hours} 小时；"
            f"删除过期行 {dropped} 行"
        )
