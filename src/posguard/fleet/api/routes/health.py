"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from posguard.fleet.api.deps import Ctx
from posguard.fleet.context import FleetContext
from posguard.fleet.db.check import DatabaseState, check_database

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(ctx: Ctx) -> dict[str, str]:
    """The process is up (always 200: restarting it would not help a database), and the
    database's state in one word (``ok`` or ``unavailable``; ``/readyz`` says why)."""
    return {"status": "ok", "database": "ok" if _state(ctx).ok else "unavailable"}


@router.get(
    "/readyz",
    responses={503: {"description": "database unreachable, not migrated, behind or read-only"}},
)
def readyz(ctx: Ctx, response: Response) -> dict[str, str]:
    """Ready for traffic: the database answers, carries this version's schema and can be
    written. 503 otherwise, saying what is wrong and what to run, so a load balancer stops
    sending traffic here."""
    state = _state(ctx)
    if not state.ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "unavailable", "detail": f"{state.problem}; {state.fix}"}
    return {"status": "ready", "schema": str(state.schema)}


def _state(ctx: FleetContext) -> DatabaseState:
    return check_database(ctx.settings.database_url, ctx.engine)


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """Prometheus metrics: of every worker process when served by ``serve --workers N``
    (``PROMETHEUS_MULTIPROC_DIR`` set), else of this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
