"""`posguard fleet import FILE`: merchants and terminals from a file, idempotently."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from posguard.cli_support.errors import CliError
from posguard.cli_support.lang import LangOption
from posguard.fleet.cli_errors import REFUSED, fleet_errors, fleet_settings
from posguard.fleet.cli_options import DbOpt
from posguard.fleet.cli_text import say


def register(app: typer.Typer) -> None:
    """Add `import` to the fleet app."""
    app.command("import")(import_)


def import_(
    file: Annotated[Path, typer.Argument(help="CSV (one terminal a row) or YAML/JSON file.")],
    credentials: Annotated[
        Path | None,
        typer.Option(
            help="Write the new terminals' credentials here (CSV terminal_id,merchant_id,"
            "credential; mode 0600) for the terminal installer. Needed when terminals are new."
        ),
    ] = None,
    mosquitto_passwd: Annotated[
        Path | None,
        typer.Option(
            help="Also add each new terminal to this Mosquitto password file (user = terminal "
            "id, password = its credential), for the per-terminal ACL in deploy/mosquitto."
        ),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    db: DbOpt = None,
    lang: LangOption = None,
) -> None:
    """Create or update merchants and terminals from a file, idempotently / 批量导入商户和终端.

    Exit status: 0 all rows applied, 2 some rows refused (the others are applied), 1 nothing
    was written (unreadable file, database error)."""
    import json

    from posguard.fleet.broker_passwd import update_passwd_file
    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.provision import apply, parse, write_credentials

    with fleet_errors(f"import {file}"):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CliError(
                f"{file}: {exc.strerror}", f"{file} 读不出来：{exc.strerror}", exit_code=REFUSED
            ) from exc
        parsed = parse(data, name=file.name)
        engine = make_engine(fleet_settings(db).database_url)
        written = False
        try:
            with make_sessionmaker(engine).begin() as session:
                report = apply(session, parsed, now=datetime.now(UTC))
                if report.credentials:
                    if credentials is None:
                        n = len(report.credentials)
                        raise CliError(
                            f"{n} new terminal(s): --credentials FILE is needed to deliver "
                            "their credentials (nothing was written)",
                            f"{n} 台新终端：需要 --credentials 文件来交付凭证（未写入任何内容）",
                            exit_code=REFUSED,
                        )
                    # written (and synced) before the commit: never terminals whose
                    # credentials nobody has; a failed commit removes the file again
                    write_credentials(credentials, report.credentials)
                    written = True
                    if mosquitto_passwd is not None:
                        update_passwd_file(
                            mosquitto_passwd,
                            ((c.terminal_id, c.credential) for c in report.credentials),
                        )
        except BaseException:
            if written and credentials is not None:
                credentials.unlink(missing_ok=True)
            raise
        finally:
            engine.dispose()
    if json_:
        typer.echo(json.dumps(report.public(), ensure_ascii=False))
    else:
        typer.echo(report.summary())
        for r in report.refused:
            refused = say("refused", lang, where=r.where, id=r.id or "?")
            typer.echo(f"{refused}: {r.reason}", err=True)
    if report.refused:
        raise typer.Exit(2)
