"""`posguard fleet add-merchant | merchants | add-terminal`: merchants and their terminals,
one at a time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer

from posguard.cli_support.errors import CliError
from posguard.cli_support.lang import LangOption
from posguard.common.errors import ConfigError
from posguard.fleet.cli_errors import REFUSED, fleet_errors, fleet_settings
from posguard.fleet.cli_options import DbOpt
from posguard.fleet.cli_text import say


def register(app: typer.Typer) -> None:
    """Add `add-merchant`, `merchants`, `add-terminal` to the fleet app."""
    app.command("add-merchant")(add_merchant)
    app.command("merchants")(merchants)
    app.command("add-terminal")(add_terminal)


def add_merchant(
    merchant_id: str,
    name: Annotated[str, typer.Option(help="Merchant name (default: its id).")] = "",
    db: DbOpt = None,
    lang: LangOption = None,
) -> None:
    """Create a merchant, or rename an existing one / 创建或更名商户."""
    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.repo.merchants import upsert_merchant

    with fleet_errors(f"merchant {merchant_id}"):
        engine = make_engine(fleet_settings(db).database_url)
        try:
            with make_sessionmaker(engine).begin() as session:
                outcome = upsert_merchant(
                    session, merchant_id=merchant_id, name=name, now=datetime.now(UTC)
                )
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        finally:
            engine.dispose()
    typer.echo(say(f"merchant_{outcome}", lang, merchant=merchant_id))


def merchants(
    search: Annotated[
        str | None, typer.Option(help="Only merchants whose id or name contains this.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
    db: DbOpt = None,
    lang: LangOption = None,
) -> None:
    """List merchants with their terminal counts / 列出商户."""
    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.repo.merchants import list_merchants

    with fleet_errors("merchants"):
        engine = make_engine(fleet_settings(db).database_url)
        try:
            with make_sessionmaker(engine)() as session:
                rows = list_merchants(session, search=search, limit=limit)
        finally:
            engine.dispose()
    for m in rows:
        typer.echo(f"{m.id}\t{m.terminals}\t{m.name}")


def add_terminal(
    terminal_id: str,
    merchant: Annotated[str, typer.Option(help="Merchant id.")],
    model: Annotated[str, typer.Option(help="Terminal model.")],
    acquirer_host: Annotated[str, typer.Option(help="Acquirer host the terminal talks to.")],
    area: Annotated[str, typer.Option(help="Area / region.")],
    brand: Annotated[str, typer.Option(help="Manufacturer.")] = "unknown",
    firmware: Annotated[str, typer.Option(help="Firmware version.")] = "0",
    location: str = "",
    install_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    warranty_end: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    db: DbOpt = None,
    lang: LangOption = None,
) -> None:
    """Register a terminal and print its credential, once / 登记终端并显示其凭证（仅一次）."""
    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.repo.terminals import add_terminal as add
    from posguard.fleet.repo.terminals import get_terminal

    def day(value: str | None, name: str) -> date | None:
        try:
            return date.fromisoformat(value) if value else None
        except ValueError as exc:
            raise CliError(
                f"{name} {value}: expected YYYY-MM-DD", f"{name} {value}：日期格式应为 YYYY-MM-DD"
            ) from exc

    with fleet_errors(f"terminal {terminal_id}"):
        engine = make_engine(fleet_settings(db).database_url)
        try:
            with make_sessionmaker(engine).begin() as session:
                found = get_terminal(session, terminal_id=terminal_id)
                if found is not None:
                    raise CliError(
                        f"terminal {terminal_id} already exists (merchant {found.merchant_id})",
                        f"终端 {terminal_id} 已存在（商户 {found.merchant_id}）",
                        exit_code=REFUSED,
                    )
                _, cred = add(
                    session,
                    terminal_id=terminal_id,
                    merchant_id=merchant,
                    model=model,
                    brand=brand,
                    firmware=firmware,
                    acquirer_host=acquirer_host,
                    area=area,
                    location=location,
                    install_date=day(install_date, "--install-date"),
                    warranty_end=day(warranty_end, "--warranty-end"),
                    now=datetime.now(UTC),
                )
        finally:
            engine.dispose()
    typer.echo(say("terminal_registered", lang, terminal=terminal_id))
    typer.echo(cred.token)
