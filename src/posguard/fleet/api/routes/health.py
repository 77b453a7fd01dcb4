"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from posguard.fleet.api.deps import Ctx

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "database not reachable or not migrated"}})
def readyz(ctx: Ctx, response: Response) -> dict[str, str]:
    """The database answers and carries the fleet schema."""
    try:
        with ctx.engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "unavailable", "detail": type(exc).__name__}
    return {"status": "ready", "schema": str(version)}


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """Prometheus metrics: of every worker process when served by ``serve --workers N``
    (``PROMETHEUS_MULTIPROC_DIR`` set), else of this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
