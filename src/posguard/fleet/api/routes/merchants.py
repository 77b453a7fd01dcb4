"""Merchants: create or rename (staff), list with a search (users; a merchant sees itself)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from posguard.fleet.api.deps import Ctx, CurrentUser, SessionDep, StaffUser
from posguard.fleet.api.schemas.terminals import Ident
from posguard.fleet.repo import merchants as repo

router = APIRouter(prefix="/api/v1/merchants", tags=["merchants"])


class MerchantCreate(BaseModel):
    id: Ident
    name: Annotated[str, Field(max_length=200)] = ""


class MerchantPublic(BaseModel):
    id: str
    name: str
    terminals: int


@router.get("")
def list_merchants(
    user: CurrentUser,
    session: SessionDep,
    search: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[MerchantPublic]:
    """Merchants whose id or name contains ``search`` (any case), with their terminal counts."""
    rows = repo.list_merchants(session, search=search, limit=limit, offset=offset)
    if user.merchant_scope is not None:
        rows = [r for r in rows if r.id == user.merchant_scope]
    return [MerchantPublic(id=r.id, name=r.name, terminals=r.terminals) for r in rows]


@router.post("", status_code=status.HTTP_201_CREATED, responses={200: {"description": "exists"}})
def upsert_merchant(
    body: MerchantCreate, _: StaffUser, ctx: Ctx, session: SessionDep, response: Response
) -> dict[str, str]:
    """Create the merchant (201) or rename it (200 ``updated`` / ``unchanged``)."""
    try:
        outcome = repo.upsert_merchant(
            session, merchant_id=body.id, name=body.name, now=ctx.clock.now()
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    if outcome != "created":
        response.status_code = status.HTTP_200_OK
    return {"id": body.id, "outcome": outcome}
