"""Ingest (terminal credentials) and reading stored events (users)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BeforeValidator

from posguard.common.event_batch import BatchError, BatchTooLargeError
from posguard.common.events import MAX_EVENT_BYTES
from posguard.fleet.api.deps import Ctx, CurrentUser, SessionDep, TerminalAuth, not_found
from posguard.fleet.api.errors import iso_datetime_only, unprocessable
from posguard.fleet.api.schemas.events import (
    BatchCreate,
    BatchResultPublic,
    EventPublic,
    IngestResultPublic,
    event_json_schema,
)
from posguard.fleet.ingest.answer import batch_answer
from posguard.fleet.ingest.store import Outcome
from posguard.fleet.repo import events as repo

router = APIRouter(prefix="/api/v1", tags=["events"])

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "unknown terminal credential"},
    403: {"description": "terminal revoked"},
}


_EVENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": event_json_schema()}},
    }
}


@router.post(
    "/ingest",
    status_code=status.HTTP_201_CREATED,
    responses={
        **_AUTH,
        200: {"description": "already stored (resend)", "model": IngestResultPublic},
        413: {"description": f"an event over {MAX_EVENT_BYTES} bytes"},
        422: {"description": "rejected (the reason says why)"},
    },
    openapi_extra=_EVENT_BODY,
)
async def ingest_one(
    request: Request, terminal: TerminalAuth, ctx: Ctx, response: Response
) -> IngestResultPublic:
    """Store one event from the authenticated terminal (201 stored, 200 duplicate, 422 rejected,
    413 over 64 KiB, with or without Content-Length: the body is read raw, never past the
    limit)."""
    body = await _read_body(request, MAX_EVENT_BYTES)
    (result,) = await run_in_threadpool(
        ctx.store.store,
        [body],
        transport="http",
        credential_terminal=terminal.id,
        known_terminal=terminal,
    )
    if result.outcome is Outcome.REJECTED:
        raise unprocessable(result.reason or "rejected")
    if result.outcome is Outcome.DUPLICATE:
        response.status_code = status.HTTP_200_OK
    return IngestResultPublic.model_validate(result, from_attributes=True)


_BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": BatchCreate.model_json_schema()}},
    }
}


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes ({declared} declared)"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/ingest/batch",
    response_model=BatchResultPublic,
    responses={
        **_AUTH,
        413: {"description": "too many events, or a body over the size limit"},
        422: {"description": 'the body is not {"events": [...]}'},
    },
    openapi_extra=_BATCH_BODY,
)
async def ingest_batch(request: Request, terminal: TerminalAuth, ctx: Ctx) -> Response:
    """Store a batch ``{"events": [...]}``: each event is stored, a duplicate, or rejected with
    a reason; a bad event never stops the rest of the batch.

    The body is read raw and validated in one pass over its bytes (the ingest hot path), not
    decoded into a model first; the store runs in a worker thread."""
    body = await _read_body(request, ctx.settings.ingest_body_max_bytes)
    try:
        results = await run_in_threadpool(
            ctx.store.store_batch_json,
            body,
            transport="http",
            credential_terminal=terminal.id,
            known_terminal=terminal,
            max_events=ctx.settings.ingest_batch_max,
        )
    except BatchTooLargeError as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from exc
    except BatchError as exc:
        loc, _, msg = str(exc).partition(": ")
        raise RequestValidationError(
            [{"type": "batch", "loc": ("body", loc), "msg": msg, "input": None}]
        ) from exc
    return Response(batch_answer(results), media_type="application/json")


@router.get("/events")
def list_events(
    user: CurrentUser,
    session: SessionDep,
    terminal_id: Annotated[str | None, Query(max_length=64)] = None,
    code: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[AwareDatetime | None, BeforeValidator(iso_datetime_only)] = None,
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
