"""The one ``posguard`` command; each face adds a Typer sub-app from its own ``cli`` module."""

from __future__ import annotations

from importlib import import_module
from typing import Annotated

import typer

from posguard import __version__
from posguard.common.errors import PosguardError

# (sub-command, module holding `app`). One line per face; keep sorted by name.
FACES: tuple[tuple[str, str], ...] = (
    ("catalog", "posguard.catalog.cli"),
    ("fleet", "posguard.fleet.cli"),
    ("host", "posguard.host.cli"),
    ("kb", "posguard.kb.cli"),
    ("merchant", "posguard.merchant.cli"),
    ("sim", "posguard.sim.cli"),
    ("terminal", "posguard.terminal.cli"),
)

app = typer.Typer(
    name="posguard",
    help="posguard: keeps POS terminals working and says what to do when they don't. "
    "posguard：让POS终端保持正常工作，出问题时告诉您怎么办。",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"posguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """posguard command line."""


for _name, _module in FACES:
    app.add_typer(import_module(_module).app, name=_name)

# The one root-level command: the whole platform end to end (`make demo`).
app.command("demo")(import_module("posguard.sim.demo_cli").demo)


def main() -> None:
    """Run the CLI. A refusal (bad configuration, a busy or impossible port, a database the
    command cannot use) is one line on stderr and exit status 2, never a traceback."""
    try:
        app()
    except PosguardError as exc:
        typer.echo(f"error: {str(exc).splitlines()[0]}", err=True)
        raise SystemExit(2) from None
    except OSError as exc:  # the system refused (a port in use, a folder not writable, ...)
        where = f" ({exc.filename})" if exc.filename else ""
        typer.echo(f"error: {exc.strerror or exc}{where}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
