"""`posguard fleet migrate`: create, upgrade or downgrade the database schema."""

from __future__ import annotations

from typing import Annotated

import typer

from posguard.cli_support.lang import LangOption
from posguard.fleet.cli_errors import fleet_errors, fleet_settings
from posguard.fleet.cli_options import DbOpt
from posguard.fleet.cli_text import say


def register(app: typer.Typer) -> None:
    """Add `migrate` to the fleet app."""
    app.command("migrate")(migrate)


def migrate(
    db: DbOpt = None,
    lang: LangOption = None,
    revision: Annotated[str, typer.Option(help="Target revision (default: the newest).")] = "head",
    downgrade: Annotated[
        bool,
        typer.Option(
            "--downgrade",
            help="Allow going back to an older revision (drops what the newer ones added).",
        ),
    ] = False,
) -> None:
    """Create, upgrade or (with --downgrade) downgrade the fleet database schema /
    创建、升级或回退数据库结构."""
    from posguard.fleet.db.engine import make_engine
    from posguard.fleet.db.migrate import migrate_to

    settings = fleet_settings(db)
    with fleet_errors("migrate"):
        engine = make_engine(settings.database_url)
        try:
            before, after = migrate_to(engine, revision, allow_downgrade=downgrade)
        finally:
            engine.dispose()
    where = engine.url.render_as_string(hide_password=True)
    typer.echo(say("migrated", lang, before=before or say("empty", lang), after=after, where=where))
