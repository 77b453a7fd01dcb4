"""`posguard fleet serve`: the fleet API (uvicorn), one process or ``--workers N``."""

from __future__ import annotations

from typing import Annotated

import typer

from posguard.cli_support.errors import CliError
from posguard.cli_support.lang import LangOption
from posguard.common.errors import ConfigError
from posguard.fleet.cli_errors import (
    fleet_errors,
    fleet_settings,
    listen_refusal,
    require_usable_database,
)
from posguard.fleet.cli_options import DbOpt


def register(app: typer.Typer) -> None:
    """Add `serve` to the fleet app."""
    app.command("serve")(serve)


def serve(
    db: DbOpt = None,
    lang: LangOption = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one).")] = 8080,
    no_diagnosis: Annotated[
        bool, typer.Option("--no-diagnosis", help="Do not run the diagnosis loop here.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="API processes, each with its own socket on the port (SO_REUSEPORT); "
            "one per core for ingest throughput. Worker 0 runs the diagnosis loop.",
        ),
    ] = 1,
) -> None:
    """Serve the fleet API (uvicorn) with the diagnosis loop / 启动API服务."""
    with fleet_errors("serve"):
        settings = fleet_settings(db, diagnosis_in_process=False if no_diagnosis else None)
    require_usable_database(settings)
    _check_port(port)
    if workers > 1:
        from posguard.fleet.serve import serve_processes

        with fleet_errors("serve"):
            status = serve_processes(settings, host=host, port=port, workers=workers)
        raise typer.Exit(status)
    import uvicorn

    from posguard.fleet.api.app import create_app
    from posguard.fleet.serve import listening_socket

    try:  # a busy or forbidden port: one line, before anything
        sock = listening_socket(host, port)
    except ConfigError as exc:
        raise listen_refusal(exc, port) from None
    with fleet_errors("serve"):
        app_ = create_app(settings)
    config = uvicorn.Config(
        app_, log_level="info", access_log=False, **settings.uvicorn_proxy_options()
    )
    uvicorn.Server(config).run(sockets=[sock])


def _check_port(port: int) -> None:
    if not 0 <= port <= 65_535:
        raise CliError(
            f"--port {port}: a TCP port is 0 to 65535", f"--port {port}：TCP 端口在 0 到 65535 之间"
        )
