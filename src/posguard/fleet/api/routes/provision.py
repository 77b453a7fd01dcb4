"""Bulk provisioning over the API: the same import as ``posguard fleet import`` (admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from posguard.common.errors import ConfigError
from posguard.fleet import provision
from posguard.fleet.api.deps import AdminUser, Ctx, SessionDep
from posguard.fleet.api.routes.events import _read_body

router = APIRouter(prefix="/api/v1/provision", tags=["provisioning"])

MAX_IMPORT_BYTES = 32 * 1024 * 1024
_NAMES = {"text/csv": "upload.csv", "application/yaml": "upload.yaml"}


@router.post(
    "/import",
    responses={
        422: {"description": "the body is not a readable CSV / YAML / JSON document"},
        413: {"description": "body over 32 MiB"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {}, "application/yaml": {}, "application/json": {}},
        }
    },
)
async def import_(request: Request, _: AdminUser, ctx: Ctx, session: SessionDep) -> dict[str, Any]:
    """Create or update merchants and terminals from a CSV (``Content-Type: text/csv``) or a
    YAML/JSON document, idempotently. The answer is the report (created / updated / unchanged
    / refused with where and why) and the new terminals' credentials, shown this once."""
    body = await _read_body(request, MAX_IMPORT_BYTES)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        parsed = provision.parse(body, name=_NAMES.get(kind, "upload.yaml"))
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from exc
    report = provision.apply(session, parsed, now=ctx.clock.now())
    return {
        **report.public(),
        "credentials": [
            {"terminal_id": c.terminal_id, "merchant_id": c.merchant_id, "credential": c.credential}
            for c in report.credentials
        ],
    }
