"""The terminal inventory as JSON: the dashboard's ``/ui/inventory`` with the same search,
filters, sort and keyset cursor (``next`` / ``prev`` go back in as ``after`` / ``before``).
A merchant user sees its own terminals only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from posguard.fleet.api.deps import Ctx, CurrentUser, SessionDep
from posguard.fleet.web.inventory import InventoryQuery, terminals_page

router = APIRouter(prefix="/api/v1", tags=["terminals"])


class InventoryItem(BaseModel):
    id: str
    serial: str | None
    merchant_id: str
    merchant_name: str
    brand: str
    model: str
    firmware: str
    acquirer_host: str
    area: str
    revoked: bool
    status: str  # the overview's health
    last_seen: datetime | None
    printer: str | None
    pending_reversals: int
    open_incidents: int


class InventoryPage(BaseModel):
    total: int
    items: list[InventoryItem]
    next: str | None  # pass as ``after`` for the next page
    prev: str | None  # pass as ``before`` for the previous page


Text = Annotated[str | None, Query(max_length=128)]


@router.get("/inventory")
def inventory(
    request: Request,
    ctx: Ctx,
    user: CurrentUser,
    session: SessionDep,
    q: Text = None,
    status: Text = None,
    host: Text = None,
    area: Text = None,
    merchant: Text = None,
    model: Text = None,
    brand: Text = None,
    firmware: Text = None,
    sort: Annotated[str, Query(pattern="^(id|merchant|host|area|model|firmware)$")] = "id",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    size: Annotated[int, Query(ge=25, le=200)] = 50,
    after: Annotated[str | None, Query(max_length=600)] = None,
    before: Annotated[str | None, Query(max_length=600)] = None,
) -> InventoryPage:
    """Parameters as documented; ``size`` is one of 25, 50, 100, 200 (others read as 50)."""
    query = InventoryQuery.from_query(request.query_params, user.merchant_scope)
    page = terminals_page(session, query, now=ctx.clock.now(), catalog=ctx.catalog)
    items = [
        InventoryItem(
            id=r.terminal.id,
            serial=r.terminal.serial,
            merchant_id=r.terminal.merchant_id,
            merchant_name=r.merchant_name,
            brand=r.terminal.brand,
            model=r.terminal.model,
            firmware=r.terminal.firmware,
            acquirer_host=r.terminal.acquirer_host,
            area=r.terminal.area,
            revoked=r.terminal.revoked,
            status=r.health.value,
            last_seen=r.last_seen,
            printer=r.printer,
            pending_reversals=r.pending_reversals,
            open_incidents=r.open_incidents,
        )
        for r in page.rows
    ]
    return InventoryPage(
        total=page.total, items=items, next=page.next_cursor, prev=page.prev_cursor
    )
