"""`posguard fleet notify channels | test CHANNEL | log`: see the configured channels (and
whether their secrets can be read, never their values), send a test message, read the
delivery log."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from posguard.cli_support.errors import CliError, FaceApp
from posguard.cli_support.lang import LangOption
from posguard.fleet.cli_errors import fleet_errors, fleet_settings
from posguard.fleet.cli_text import say

if TYPE_CHECKING:
    from posguard.fleet.notify.config import NotifyConfig

app = FaceApp(help="Incident notifications / 故障通知.", no_args_is_help=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="Notification YAML (default: POSGUARD_NOTIFY_CONFIG)."),
]
DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: POSGUARD_FLEET_DATABASE_URL)."),
]


def _config_path(config: Path | None) -> Path:
    from posguard.fleet.notify.settings import NotifySettings

    with fleet_errors("notify"):
        path = config or NotifySettings().config
    if path is None:
        raise CliError(
            "no notification configuration: give --config or set POSGUARD_NOTIFY_CONFIG",
            "没有通知配置：请用 --config 指定，或设置 POSGUARD_NOTIFY_CONFIG",
        )
    return path


def _load(config: Path | None) -> NotifyConfig:
    from posguard.fleet.notify.config import load_config

    return load_config(_config_path(config))  # a ConfigError: one line, exit 2


def _db_url(db: str | None) -> str:
    return db or fleet_settings().database_url


@app.command()
def channels(config: ConfigOpt = None, lang: LangOption = None) -> None:
    """List the channels and whether each secret can be read / 列出通知渠道."""
    from posguard.fleet.notify.summary import summarize

    cfg = _load(config)
    bad = 0
    for ch in summarize(cfg):
        parts = [
            f"{s.field}={s.where} ({say('secret_ok' if s.readable else 'secret_missing', lang)})"
            for s in ch.secrets
        ]
        bad += sum(not s.readable for s in ch.secrets)
        rate = say("per_min", lang, n=ch.rate_per_min) if ch.rate_per_min else say("no_limit", lang)
        typer.echo(f"{ch.id}\t{ch.type}\t{rate}\t{' '.join(parts)}")
    typer.echo(say("channels_total", lang, channels=len(cfg.channels), routes=len(cfg.routes)))
    if bad:
        raise typer.Exit(1)


@app.command("test")
def send_test_message(
    channel: Annotated[str, typer.Argument(help="Channel id.")],
    to: Annotated[str, typer.Option("--to", help="Recipient (e-mail channels).")] = "",
    config: ConfigOpt = None,
    db: DbOpt = None,
    lang: LangOption = None,
) -> None:
    """Send a test message through one channel and log it / 发送测试消息."""
    from posguard.catalog import default_catalog
    from posguard.fleet.clock import SystemClock
    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.notify.channels.base import SendStatus
    from posguard.fleet.notify.delivery import Notifier
    from posguard.fleet.notify.testsend import send_test

    assert lang is not None  # resolved by FaceApp
    cfg = _load(config)
    with fleet_errors("notify test"):
        engine = make_engine(_db_url(db))
        try:
            notifier = Notifier(
                make_sessionmaker(engine),
                config=cfg,
                catalog=default_catalog(),
                clock=SystemClock(),
            )
            result = asyncio.run(send_test(notifier, channel, recipient=to, lang=lang))
        finally:
            engine.dispose()
    typer.echo(f"{channel}: {result.status.value} {result.detail}".rstrip())
    if result.status is not SendStatus.SENT:
        raise typer.Exit(1)


@app.command("log")
def delivery_log(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    status: Annotated[
        str | None, typer.Option(help="pending, sending, sent, failed or suppressed.")
    ] = None,
    incident: Annotated[int | None, typer.Option(help="Only this incident.")] = None,
    db: DbOpt = None,
    lang: LangOption = None,
) -> None:
    """The delivery log, newest first / 通知发送记录."""
    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.notify.outbox import delivery_log as read_log
    from posguard.fleet.notify.outbox import shown_state

    with fleet_errors("notify log"):
        engine = make_engine(_db_url(db))
        try:
            with make_sessionmaker(engine)() as s:
                rows = read_log(s, limit=limit, status=status, incident_id=incident)
        finally:
            engine.dispose()
    for r in rows:
        state = shown_state(r)
        when = (r.sent_at or r.next_attempt_at).strftime("%Y-%m-%d %H:%M:%S")
        inc = f"#{r.incident_id}" if r.incident_id is not None else "-"
        typer.echo(
            f"{r.id}\t{when}\t{inc}\t{r.transition}\t{r.channel}\t{r.recipient or '-'}\t"
            f"{state}\t{r.attempts}\t{r.last_error or ''}".rstrip()
        )
