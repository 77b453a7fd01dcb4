"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi import APIRouter, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from posguard.fleet.api.deps import Ctx
from posguard.fleet.context import FleetContext
from posguard.fleet.db.check import DatabaseState, check_database
from posguard.fleet.supervise import LoopRegistry

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(ctx: Ctx) -> dict[str, str]:
    """The process is up (always 200: restarting it would not help a database), and the
    database's state in one word (``ok`` or ``unavailable``; ``/readyz`` says why)."""
    return {"status": "ok", "database": "ok" if _state(ctx).ok else "unavailable"}


def _multiprocess_registry() -> CollectorRegistry | None:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def other_processes_loops(registry: CollectorRegistry) -> dict[str, dict[str, Any]]:
    """Loops of every live worker process, from the multiprocess metric files: name ->
    heartbeat age and threshold (a loop in another worker has no state object here)."""
    beats: dict[str, float] = {}
    stale: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            loop = sample.labels.get("loop")
            if loop is None:
                continue
            if sample.name == "posguard_fleet_loop_heartbeat_timestamp_seconds":
                beats[loop] = sample.value
            elif sample.name == "posguard_fleet_loop_stale_after_seconds":
                stale[loop] = sample.value
    now = time.time()
    return {
        name: {"heartbeat_age_s": round(now - beat, 3), "stale_after_s": stale.get(name, 60.0)}
        for name, beat in beats.items()
    }


@router.get(
    "/readyz",
    responses={
        503: {
            "description": "database unreachable, not migrated, behind or read-only, "
            "or a supervised loop without a heartbeat"
        }
    },
)
def readyz(ctx: Ctx, request: Request, response: Response) -> dict[str, Any]:
    """Ready for traffic: the database answers, carries this version's schema and can be
    written, and no supervised loop (diagnosis, ...) of this service has gone without a
    heartbeat for longer than its threshold. 503 otherwise, saying what is wrong and what to
    run, so a load balancer stops sending traffic here."""
    state = _state(ctx)
    if not state.ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"status": "unavailable", "detail": f"{state.problem}; {state.fix}"}
    version = state.schema
    registry: LoopRegistry = request.app.state.loops
    loops: dict[str, dict[str, Any]] = {}
    shared = _multiprocess_registry()
    if shared is not None:
        loops.update(other_processes_loops(shared))
    loops.update({name: h.public() for name, h in registry.loops.items()})
    dead = sorted(
        name
        for name, info in loops.items()
        if info.get("state") != "stopped" and info["heartbeat_age_s"] > info["stale_after_s"]
    )
    if dead:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {
            "status": "unavailable",
            "detail": f"loop(s) without a heartbeat: {', '.join(dead)}",
            "loops": loops,
        }
    return {"status": "ready", "schema": str(version), "loops": loops}


def _state(ctx: FleetContext) -> DatabaseState:
    return check_database(ctx.settings.database_url, ctx.engine)


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    """Prometheus metrics: of every worker process when served by ``serve --workers N``
    (``PROMETHEUS_MULTIPROC_DIR`` set), else of this process."""
    registry = _multiprocess_registry()
    if registry is not None:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
