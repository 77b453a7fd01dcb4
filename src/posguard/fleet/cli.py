"""`posguard fleet ...`: migrate, serve, mqtt-worker, diagnose, create-user, add-merchant,
merchants, add-terminal, import, notify, incident, maintenance.

Every command takes ``--lang`` and ``--debug`` (:class:`~posguard.cli_support.errors.FaceApp`);
expected failures end with one line on stderr in the user's language and the exit status of
their kind (:mod:`posguard.fleet.cli_errors`: 1 refused, 2 fix the command, 4 unknown id,
5 database unavailable), never a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from posguard.cli_support.errors import CliError, FaceApp
from posguard.cli_support.lang import LangOption
from posguard.common.errors import ConfigError
from posguard.fleet.cli_errors import (
    REFUSED,
    fleet_errors,
    fleet_settings,
    listen_refusal,
    not_found,
    require_usable_database,
)
from posguard.fleet.cli_text import say
from posguard.fleet.db.maintenance_cli import app as maintenance_app
from posguard.fleet.incident_cli import app as incident_app
from posguard.fleet.notify.cli import app as notify_app
from posguard.fleet.training_cli import app as training_app

app = FaceApp(help="The fleet service / 终端管理服务.", no_args_is_help=True)
app.add_typer(notify_app, name="notify")
app.add_typer(incident_app, name="incident")
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(training_app, name="training")

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL (default: POSGUARD_FLEET_DATABASE_URL or ./var/fleet.db)."
    ),
]


@app.command()
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


@app.command()
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


@app.command("mqtt-worker")
def mqtt_worker(
    db: DbOpt = None,
    lang: LangOption = None,
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
    username: Annotated[
        str | None,
        typer.Option(help="Broker login (or POSGUARD_FLEET_MQTT_USERNAME)."),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            help="File holding the broker password (or POSGUARD_FLEET_MQTT_PASSWORD); "
            "never on the command line."
        ),
    ] = None,
    tls: Annotated[
        bool | None,
        typer.Option("--tls/--no-tls", help="TLS to the broker (or POSGUARD_FLEET_MQTT_TLS)."),
    ] = None,
    tls_ca: Annotated[
        Path | None, typer.Option(help="CA certificate(s) to verify the broker with.")
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="Client certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Client certificate's key (PEM).")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=0, max=65_535, help="Serve Prometheus metrics on this port."),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address for --metrics-port.")] = "127.0.0.1",
) -> None:
    """Ingest telemetry from the MQTT broker (shared subscription) / 从MQTT接收遥测."""
    from posguard.fleet.context import FleetContext
    from posguard.fleet.ingest.broker_tls import broker_tls_context
    from posguard.fleet.ingest.mqtt_worker import MqttIngestWorker
    from posguard.fleet.supervise import Beat, LoopRegistry, beat_while, supervise

    settings = fleet_settings(
        db,
        mqtt_host=broker,
        mqtt_port=broker_port,
        mqtt_username=username,
        mqtt_tls=tls,
        mqtt_tls_ca_file=tls_ca,
        mqtt_tls_cert_file=tls_cert,
        mqtt_tls_key_file=tls_key,
    )
    require_usable_database(settings)
    if metrics_port is not None:  # a busy or forbidden port: one line, before anything
        from prometheus_client import start_http_server

        try:
            start_http_server(metrics_port, addr=metrics_host)
        except OSError as exc:
            raise CliError(
                f"--metrics-port {metrics_port}: cannot listen on {metrics_host}: {exc.strerror}",
                f"--metrics-port {metrics_port}：无法在 {metrics_host} 上监听：{exc.strerror}"
                "；请换一个端口",
            ) from None
    with fleet_errors("mqtt-worker"):
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        if password_file is not None:
            try:
                password = password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise CliError(
                    f"--password-file {password_file}: {exc.strerror}",
                    f"--password-file {password_file} 读不出来：{exc.strerror}",
                    exit_code=REFUSED,
                ) from exc
        tls_context = None
        if settings.mqtt_tls or settings.mqtt_tls_ca_file or settings.mqtt_tls_cert_file:
            tls_context = broker_tls_context(
                ca_file=settings.mqtt_tls_ca_file,
                cert_file=settings.mqtt_tls_cert_file,
                key_file=settings.mqtt_tls_key_file,
            )
        ctx = FleetContext.build(settings)
    loops = LoopRegistry()
    dispatch_health = (
        loops.register("command-dispatch", stale_after_s=settings.loop_stale_after_s)
        if dispatch_commands
        else None
    )
    worker = MqttIngestWorker(
        ctx.store,
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        username=settings.mqtt_username,
        password=password,
        dispatch_commands=dispatch_commands,
        sessions=ctx.sessions,
        client_id=client_id,
        session_expiry_s=session_expiry,
        tls_context=tls_context,
        on_dispatch_round=dispatch_health.beat if dispatch_health is not None else None,
    )
    if metrics_port is not None:
        from posguard.fleet.process_metrics import start_process_metrics

        start_process_metrics(ctx.engine)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)

        async def consume(beat: Beat) -> None:
            # the worker reconnects by itself; the supervisor restarts it after anything else
            # and its heartbeat shows whether it is subscribed
            alive = asyncio.create_task(beat_while(beat, worker.subscribed.is_set, stop, 5.0))
            try:
                await worker.run(stop)
            finally:
                alive.cancel()

        await supervise(
            "mqtt-consume",
            consume,
            stop,
            registry=loops,
            stale_after_s=settings.loop_stale_after_s,
        )

    try:
        asyncio.run(main())
    finally:
        ctx.close()


@app.command()
def diagnose(
    db: DbOpt = None,
    lang: LangOption = None,
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
    """Run a diagnoser outside the API: shard K of N, or the correlator / 独立运行诊断分片.

    Supervised: a database restart fails a round, which is logged once and started again with
    back-off; the process keeps running (SIGINT / SIGTERM stop it)."""
    from posguard.fleet.context import FleetContext
    from posguard.fleet.diagnosis.leader import AdvisoryLock
    from posguard.fleet.diagnosis.runner import run_diagnoser
    from posguard.fleet.diagnosis.shard import ShardRole
    from posguard.fleet.notify import service as notify_service
    from posguard.fleet.supervise import LoopRegistry

    try:
        role = ShardRole.correlator() if correlator else ShardRole.parse(shard, of)
    except ValueError as exc:
        raise CliError(f"--shard/--of: {exc}", f"--shard/--of 不对：{exc}") from exc
    settings = fleet_settings(db)
    require_usable_database(settings)
    with fleet_errors("diagnose"):
        ctx = FleetContext.build(settings)
    lock = AdvisoryLock(ctx.engine) if role.correlate else None
    # the incidents this process opens enqueue their notifications; the API workers deliver
    notify_service.install_hook(ctx)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await run_diagnoser(
            ctx,
            role,
            stop,
            poll_s=poll,
            registry=LoopRegistry(),
            lock=lock,
            say=typer.echo,
        )

    try:
        asyncio.run(main())
    finally:
        if lock is not None:
            with contextlib.suppress(Exception):
                lock.release()
        ctx.close()


@app.command("create-user")
def create_user(
    username: str,
    role: Annotated[str, typer.Option(help="admin | ops | merchant")],
    merchant: Annotated[str | None, typer.Option(help="Merchant id (merchant users only).")] = None,
    db: DbOpt = None,
    lang: LangOption = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Create an API user (password hashed with argon2) / 创建用户."""

    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.db.models import Merchant
    from posguard.fleet.repo.users import Role, get_user
    from posguard.fleet.repo.users import create_user as create

    if len(password) < 10:
        raise CliError("--password: at least 10 characters", "--password：密码至少 10 位")
    try:
        role_ = Role(role)
    except ValueError as exc:
        raise CliError(
            f"--role {role}: admin, ops or merchant",
            f"--role {role}：只能是 admin、ops 或 merchant",
        ) from exc
    settings = fleet_settings(db)
    require_usable_database(settings)
    with fleet_errors(f"user {username}"):
        engine = make_engine(settings.database_url)
        try:
            with make_sessionmaker(engine).begin() as session:
                if get_user(session, username=username) is not None:
                    raise CliError(
                        f"user {username} already exists",
                        f"用户 {username} 已存在",
                        exit_code=REFUSED,
                    )
                if merchant is not None and session.get(Merchant, merchant) is None:
                    raise not_found(
                        f"merchant {merchant} does not exist (create it with "
                        "`posguard fleet add-merchant`)",
                        f"商户 {merchant} 不存在（先用 `posguard fleet add-merchant` 创建）",
                    )
                try:
                    create(
                        session,
                        username=username,
                        password=password,
                        role=role_,
                        merchant_id=merchant,
                        now=datetime.now(UTC),
                    )
                except ValueError as exc:
                    raise CliError(f"--merchant: {exc}", f"--merchant 不对：{exc}") from exc
        finally:
            engine.dispose()
    typer.echo(say("user_created", lang, user=username, role=role_.value))


@app.command("add-merchant")
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


@app.command("merchants")
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


@app.command("import")
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
