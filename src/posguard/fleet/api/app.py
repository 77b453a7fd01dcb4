"""The fleet API application factory.

``create_app(settings)`` builds a FastAPI app with the fleet's routers, plus every optional
router in :data:`OPTIONAL_ROUTERS` whose module is installed (the web dashboard, the knowledge
base API...): another face adds itself with one line there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import import_module

import structlog
from fastapi import APIRouter, Depends, FastAPI

from posguard import __version__
from posguard.fleet.api.deps import current_user
from posguard.fleet.api.errors import install_error_handlers
from posguard.fleet.api.request_log import RequestLogMiddleware
from posguard.fleet.api.routes import (
    auth,
    bulk,
    commands,
    events,
    health,
    incident_workflow,
    incidents,
    inventory,
    maintenance,
    merchant_admin,
    merchants,
    network,
    packages,
    provision,
    rules,
    terminals,
    training,
)
from posguard.fleet.clock import Clock
from posguard.fleet.config import FleetSettings
from posguard.fleet.context import FleetContext
from posguard.fleet.diagnosis.runner import run_diagnoser
from posguard.fleet.diagnosis.shard import ShardRole
from posguard.fleet.incident_policy import get_policy
from posguard.fleet.notify import service as notify_service
from posguard.fleet.process_metrics import start_process_metrics
from posguard.fleet.supervise import LoopRegistry

log = structlog.get_logger(__name__)

# (module, attribute holding an APIRouter, who may call it). Missing modules are skipped.
# One line per face. "user" routes need a logged-in user (any role); "public" routes serve
# the knowledge base to anyone; the web dashboard checks its own session cookie.
OPTIONAL_ROUTERS: tuple[tuple[str, str, str], ...] = (
    ("posguard.fleet.web.routes", "router", "public"),
    ("posguard.kb.api", "router", "public"),
    ("posguard.merchant.api", "router", "user"),  # personal data: never anonymous
    ("posguard.fleet.api.routes.prediction", "router", "user"),  # predictive maintenance
)

CORE_ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    auth.router,
    terminals.router,
    events.router,
    incidents.router,
    incident_workflow.router,
    commands.router,
    rules.router,
    maintenance.router,
    merchants.router,
    merchant_admin.router,
    provision.router,
    bulk.router,
    inventory.router,
    network.router,
    training.router,
    packages.router,
)


def _optional_routers() -> list[tuple[APIRouter, str]]:
    found: list[tuple[APIRouter, str]] = []
    for module_name, attr, access in OPTIONAL_ROUTERS:
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # that face is not installed
            raise
        router = getattr(module, attr, None)
        if isinstance(router, APIRouter):
            found.append((router, access))
    return found


def create_app(
    settings: FleetSettings | None = None,
    *,
    clock: Clock | None = None,
    context: FleetContext | None = None,
) -> FastAPI:
    """Build the fleet API. With ``settings.diagnosis_in_process`` the diagnosis loop runs
    inside the app's lifespan."""
    get_policy()  # a bad POSGUARD_FLEET_INCIDENT_POLICY file stops the start, naming the field
    ctx = context or FleetContext.build(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        start_process_metrics(ctx.engine)
        if ctx.settings.diagnosis_in_process:
            # the one supervised diagnoser (``fleet diagnose`` runs the same), as shard 0 of 1
            # with the fleet-wide rules; a fresh service each (re)start rebuilds its windows
            task = asyncio.create_task(
                run_diagnoser(
                    ctx,
                    ShardRole(),
                    stop,
                    poll_s=ctx.settings.diagnosis_poll_s,
                    registry=app.state.loops,
                    name="diagnosis",
                )
            )
        notify_task = notify_service.start(ctx, stop)  # None unless POSGUARD_NOTIFY_CONFIG
        try:
            yield
        finally:
            stop.set()
            for t in (task, notify_task):
                if t is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait_for(t, 10)
            if context is None:
                ctx.close()

    app = FastAPI(
        title="posguard fleet",
        version=__version__,
        description="Terminal telemetry ingest, diagnosis, incidents and remote commands. "
        "终端遥测接入、故障诊断、事件工单与远程指令。",
        lifespan=lifespan,
    )
    app.state.fleet = ctx
    app.state.loops = LoopRegistry()
    install_error_handlers(app)
    app.add_middleware(RequestLogMiddleware)
    for router in CORE_ROUTERS:
        app.include_router(router)
    for router, access in _optional_routers():
        needs = [Depends(current_user)] if access == "user" else []
        app.include_router(router, dependencies=needs)
    return app
