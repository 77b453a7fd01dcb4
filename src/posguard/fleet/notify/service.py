"""Start notifications inside a fleet process: install the transition hook on its sessions and
run the delivery loop. The fleet app calls :func:`start` once from its lifespan; with no
configuration it returns at once, and the channel code (httpx, smtplib) is not even imported,
so a worker without notifications starts as fast as before."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from posguard.fleet.notify.settings import NotifySettings, get_notify_settings

if TYPE_CHECKING:
    from posguard.fleet.context import FleetContext

log = structlog.get_logger(__name__)


def install_hook(ctx: FleetContext, settings: NotifySettings | None = None) -> bool:
    """Only the enqueueing side, for a process that changes incidents but delivers nothing
    (a ``fleet diagnose`` shard or correlator: the API workers' delivery loop sends what it
    enqueues). False when no configuration is set."""
    settings = settings or get_notify_settings()
    if settings.config is None:
        return False
    from posguard.fleet.notify.config import load_config
    from posguard.fleet.notify.hook import install

    install(ctx.sessions, config=load_config(settings.config), catalog=ctx.catalog, clock=ctx.clock)
    return True


def start(
    ctx: FleetContext, stop: asyncio.Event, settings: NotifySettings | None = None
) -> asyncio.Task[None] | None:
    """The delivery loop's task, or None when no configuration is set."""
    settings = settings or get_notify_settings()
    if settings.config is None:
        return None
    from posguard.fleet.notify.config import load_config
    from posguard.fleet.notify.delivery import Notifier
    from posguard.fleet.notify.hook import install

    config = load_config(settings.config)
    install(ctx.sessions, config=config, catalog=ctx.catalog, clock=ctx.clock)
    notifier = Notifier(
        ctx.sessions,
        config=config,
        catalog=ctx.catalog,
        clock=ctx.clock,
        worker_id=settings.worker_id,
    )
    log.info("notify.started", channels=len(config.channels), routes=len(config.routes))
    return asyncio.create_task(notifier.run(stop, poll_s=settings.poll_s))
