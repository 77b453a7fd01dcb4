"""Options shared by the fleet face's commands."""

from __future__ import annotations

from typing import Annotated

import typer

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL (default: POSGUARD_FLEET_DATABASE_URL or ./var/fleet.db)."
    ),
]
