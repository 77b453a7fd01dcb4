"""Ingest (terminal credentials) and reading stored events (users)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from posguard.fleet.api.deps import Ctx, CurrentUser, SessionDep, TerminalAuth, not_found
from posguard.fleet.api.schemas.events import (
    BatchCreate,
    BatchResultPublic,
    EventPublic,
    IngestResultPublic,
)
from posguard.fleet.ingest.store import Outcome
from posguard.fleet.repo import events as repo

router = APIRouter(prefix="/api/v1", tags=["events"])

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "unknown terminal credential"},
    403: {"description": "terminal revoked"},
}


@router.post(
    "/ingest",
    status_code=status.HTTP_201_CREATED,
    responses={
        **_AUTH,
        200: {"description": "already stored (resend)"},
        422: {"description": "rejected"},
    },
)
def ingest_one(
    event: Annotated[dict[str, Any], Body(description="One telemetry event")],
    terminal: TerminalAuth,
    ctx: Ctx,
    response: Response,
) -> IngestResultPublic:
    """Store one event from the authenticated terminal (201 stored, 200 duplicate, 422 rejected)."""
    (result,) = ctx.store.store([event], transport="http", credential_terminal=terminal.id)
    if result.outcome is Outcome.REJECTED:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, result.reason)
    if result.outcome is Outcome.DUPLICATE:
        response.status_code = status.HTTP_200_OK
    return IngestResultPublic.model_validate(result, from_attributes=True)


@router.post(
    "/ingest/batch",
    response_model=BatchResultPublic,
    responses={**_AUTH, 413: {"description": "too many events"}},
)
def ingest_batch(body: BatchCreate, terminal: TerminalAuth, ctx: Ctx) -> Response:
    """Store a batch: each event is stored, a duplicate, or rejected with a reason; a bad event
    never stops the rest of the batch."""
    if len(body.events) > ctx.settings.ingest_batch_max:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"at most {ctx.settings.ingest_batch_max} events per batch",
        )
    results = ctx.store.store(body.events, transport="http", credential_terminal=terminal.id)
    counts = {o: sum(1 for r in results if r.outcome is o) for o in Outcome}
    # built by hand (the hot path): the same shape as BatchResultPublic, without validating
    # a model per event on the way out
    body_out = {
        "stored": counts[Outcome.STORED],
        "duplicate": counts[Outcome.DUPLICATE],
        "rejected": counts[Outcome.REJECTED],
        "results": [
            {
                "index": r.index,
                "outcome": r.outcome.value,
                "terminal_id": r.terminal_id,
                "seq": r.seq,
                "reason": r.reason,
            }
            for r in results
        ],
    }
    return JSONResponse(body_out)


@router.get("/events")
def list_events(
    user: CurrentUser,
    session: SessionDep,
    terminal_id: Annotated[str | None, Query(max_length=64)] = None,
    code: Annotated[str | None, Query(max_length=64)] = None,
    since: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[EventPublic]:
    """Stored events, newest first (a merchant: only its own terminals')."""
    rows = repo.list_events(
        session,
        merchant_id=user.merchant_scope,
        terminal_id=terminal_id,
        code=code,
        since=since,
        limit=limit,
        offset=offset,
    )
    return [EventPublic.model_validate(r) for r in rows]


@router.get("/events/{event_id}", responses={404: {"description": "no such event (or not yours)"}})
def get_event(
    event_id: Annotated[int, Path(ge=1, le=2**53)], user: CurrentUser, session: SessionDep
) -> EventPublic:
    row = repo.get_event(session, event_id=event_id, merchant_id=user.merchant_scope)
    if row is None:
        raise not_found("event")
    return EventPublic.model_validate(row)
