"""The diagnosis rules in force (read-only; they are data files)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from posguard.fleet.api.deps import Ctx, CurrentUser

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])


@router.get("")
def list_rules(_: CurrentUser, ctx: Ctx) -> list[dict[str, Any]]:
    """Every rule: id, kind, catalog code, create and clear conditions, actions."""
    return [r.model_dump(mode="json") for r in ctx.rules]
