"""`posguard fleet ...`: migrate, serve, mqtt-worker, diagnose, create-user, add-terminal."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, date, datetime
from typing import Annotated

import typer

from posguard.fleet.config import FleetSettings
from posguard.fleet.notify.cli import app as notify_app

app = typer.Typer(help="The fleet service / 终端管理服务.", no_args_is_help=True)
app.add_typer(notify_app, name="notify")

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
    if workers > 1:
        from posguard.fleet.serve import serve_processes

        raise typer.Exit(serve_processes(settings, host=host, port=port, workers=workers))
    import uvicorn

    from posguard.fleet.api.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


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


@app.command()
def diagnose(
    db: DbOpt = None,
    shard: Annotated[int, typer.Option(min=0, help="This process's shard K (0 <= K < N).")] = 0,
    of: Annotated[int, typer.Option("--of", min=1, help="How many shards (N).")] = 1,
    correlator: Annotated[
        bool,
        typer.Option(
            "--correlator",
            help="Run the fleet-wide rules (host / area / model / issuer) instead; one at a "
            "time by a PostgreSQL advisory lock, a second one waits and takes over.",
        ),
    ] = False,
    poll: Annotated[float, typer.Option(min=0.05, max=60, help="Seconds between steps.")] = 0.2,
) -> None:
    """Run a diagnoser outside the API: shard K of N, or the correlator / 独立运行诊断分片."""
    from posguard.fleet.context import FleetContext
    from posguard.fleet.diagnosis.leader import AdvisoryLock
    from posguard.fleet.diagnosis.service import DiagnosisService
    from posguard.fleet.diagnosis.shard import ShardRole

    try:
        role = ShardRole.correlator() if correlator else ShardRole.parse(shard, of)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    ctx = FleetContext.build(_settings(db))
    lock = AdvisoryLock(ctx.engine) if role.correlate else None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        if lock is not None:
            typer.echo("waiting for the correlator lock / 等待关联分析锁")
            while not stop.is_set() and not await asyncio.to_thread(lock.try_acquire):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
            if stop.is_set():
                return
        service = DiagnosisService(
            ctx.sessions,
            rules=ctx.rules,
            catalog=ctx.catalog,
            clock=ctx.clock,
            default_heartbeat_s=ctx.settings.default_heartbeat_interval_s,
            role=role,
        )
        typer.echo(f"diagnosing as {role.key} / 诊断分片 {role.key}")
        await service.run(stop, poll_s=poll)

    try:
        asyncio.run(main())
    finally:
        if lock is not None:
            lock.release()
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
    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.repo.users import Role
    from posguard.fleet.repo.users import create_user as create

    if len(password) < 10:
        raise typer.BadParameter("at least 10 characters / 密码至少10位", param_hint="--password")
    try:
        role_ = Role(role)
    except ValueError as exc:
        raise typer.BadParameter("admin, ops or merchant", param_hint="--role") from exc
    engine = make_engine(_settings(db).database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            create(
                session,
                username=username,
                password=password,
                role=role_,
                merchant_id=merchant,
                now=datetime.now(UTC),
            )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--merchant") from exc
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
