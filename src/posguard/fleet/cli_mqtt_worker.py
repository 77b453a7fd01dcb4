"""`posguard fleet mqtt-worker`: telemetry ingest from the MQTT broker, supervised."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer

from posguard.cli_support.errors import CliError
from posguard.cli_support.lang import LangOption
from posguard.fleet.cli_errors import (
    REFUSED,
    fleet_errors,
    fleet_settings,
    require_usable_database,
)
from posguard.fleet.cli_options import DbOpt


def register(app: typer.Typer) -> None:
    """Add `mqtt-worker` to the fleet app."""
    app.command("mqtt-worker")(mqtt_worker)


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
