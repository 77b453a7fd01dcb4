"""`posguard fleet ...`: migrate, serve, mqtt-worker, create-user, add-terminal."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, date, datetime
from typing import Annotated

import typer

from posguard.common.errors import ConfigError
from posguard.fleet.config import FleetSettings

app = typer.Typer(help="The fleet service / 终端管理服务.", no_args_is_help=True)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL (default: POSGUARD_FLEET_DATABASE_URL or ./var/fleet.db)."
    ),
]


def _settings(db: str | None, **extra: object) -> FleetSettings:
    base = FleetSettings()
    updates: dict[str, object] = {k: v for k, v in extra.items() if v is not None}
    if db is not None:
        updates["database_url"] = db
    return base.model_copy(update=updates)


@app.command()
def migrate(db: DbOpt = None, revision: str = "head") -> None:
    """Create or upgrade the fleet database schema / 创建或升级数据库结构."""
    from posguard.fleet.db.engine import make_engine
    from posguard.fleet.db.migrate import upgrade

    settings = _settings(db)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine, revision)
    finally:
        engine.dispose()
    typer.echo(f"fleet database at {revision}: {engine.url.render_as_string(hide_password=True)}")


@app.command()
def serve(
    db: DbOpt = None,
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
    settings = _settings(db, diagnosis_in_process=False if no_diagnosis else None)
    _require_usable_database(settings)
    _check_port(port)
    if workers > 1:
        from posguard.fleet.serve import serve_processes

        raise typer.Exit(serve_processes(settings, host=host, port=port, workers=workers))
    import uvicorn

    from posguard.fleet.api.app import create_app
    from posguard.fleet.serve import listening_socket

    sock = listening_socket(host, port)  # a busy or forbidden port: one line, before anything
    config = uvicorn.Config(
        create_app(settings), log_level="info", **settings.uvicorn_proxy_options()
    )
    uvicorn.Server(config).run(sockets=[sock])


def _check_port(port: int) -> None:
    if not 0 <= port <= 65_535:
        raise ConfigError(f"--port {port}: a TCP port is 0 to 65535")


def _require_usable_database(settings: FleetSettings) -> None:
    """Refuse to start on a database the service cannot use, in one line with the fix."""
    from posguard.fleet.db.check import check_database

    url = settings.database_url
    state = check_database(url, probe_write=True)
    if not state.ok:
        raise ConfigError(state.line(url))


@app.command("mqtt-worker")
def mqtt_worker(
    db: DbOpt = None,
    broker: Annotated[str | None, typer.Option(help="MQTT broker host.")] = None,
    broker_port: Annotated[int | None, typer.Option(help="MQTT broker port.")] = None,
    dispatch_commands: Annotated[
        bool, typer.Option(help="Also publish pending remote commands.")
    ] = True,
    client_id: Annotated[
        str | None,
        typer.Option(
            help="A stable MQTT client id for this worker (one per worker, e.g. ingest-1): "
            "restarted within --session-expiry it gets back the messages it had not "
            "acknowledged. Default: a random id (those messages are lost with the session)."
        ),
    ] = None,
    session_expiry: Annotated[
        int,
        typer.Option(min=0, max=86_400, help="Seconds the broker keeps this worker's session."),
    ] = 60,
) -> None:
    """Ingest telemetry from the MQTT broker (shared subscription) / 从MQTT接收遥测."""
    from posguard.fleet.context import FleetContext
    from posguard.fleet.ingest.mqtt_worker import MqttIngestWorker

    settings = _settings(db, mqtt_host=broker, mqtt_port=broker_port)
    _require_usable_database(settings)
    ctx = FleetContext.build(settings)
    worker = MqttIngestWorker(
        ctx.store,
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        username=settings.mqtt_username,
        password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
        dispatch_commands=dispatch_commands,
        sessions=ctx.sessions,
        client_id=client_id,
        session_expiry_s=session_expiry,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)

    try:
        asyncio.run(main())
    finally:
        ctx.close()


@app.command("create-user")
def create_user(
    username: str,
    role: Annotated[str, typer.Option(help="admin | ops | merchant")],
    merchant: Annotated[str | None, typer.Option(help="Merchant id (merchant users only).")] = None,
    db: DbOpt = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Create an API user (password hashed with argon2) / 创建用户."""
    from sqlalchemy.exc import SQLAlchemyError

    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.db.models import Merchant
    from posguard.fleet.repo.users import Role, get_user
    from posguard.fleet.repo.users import create_user as create

    if len(password) < 10:
        raise typer.BadParameter("at least 10 characters / 密码至少10位", param_hint="--password")
    try:
        role_ = Role(role)
    except ValueError as exc:
        raise typer.BadParameter("admin, ops or merchant", param_hint="--role") from exc
    settings = _settings(db)
    _require_usable_database(settings)
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            if merchant is not None and session.get(Merchant, merchant) is None:
                raise ConfigError(f"--merchant {merchant}: no such merchant in the fleet")
            if get_user(session, username=username) is not None:
                raise ConfigError(f"user {username} exists already")
            create(
                session,
                username=username,
                password=password,
                role=role_,
                merchant_id=merchant,
                now=datetime.now(UTC),
            )
    except ValueError as exc:
        raise ConfigError(f"--merchant: {exc}") from exc
    except SQLAlchemyError as exc:  # never the statement: it holds the new password's hash
        raise ConfigError(f"user {username} not created: {type(exc).__name__}") from None
    finally:
        engine.dispose()
    typer.echo(f"user {username} ({role_.value}) created")


@app.command("add-terminal")
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
) -> None:
    """Register a terminal and print its credential, once / 登记终端并显示其凭证（仅一次）."""
    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.repo.terminals import add_terminal as add

    def day(value: str | None, name: str) -> date | None:
        try:
            return date.fromisoformat(value) if value else None
        except ValueError as exc:
            raise typer.BadParameter("expected YYYY-MM-DD", param_hint=name) from exc

    engine = make_engine(_settings(db).database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
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
    typer.echo(f"terminal {terminal_id} registered. Credential (shown once / 仅显示一次):")
    typer.echo(cred.token)
