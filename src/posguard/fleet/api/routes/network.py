"""The network report (``posguard.fleet.network_report``) as JSON: per area × carrier × link,
failures per 1,000 attempts, RTT, weak-signal and failover shares, weekly trend and a
recommendation, the worst places first. A merchant gets its own terminals' rows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from posguard.fleet.api.deps import Ctx, CurrentUser, SessionDep
from posguard.fleet.network_report import MAX_WEEKS, NetworkReport, network_report

router = APIRouter(prefix="/api/v1/network", tags=["network"])


@router.get("/report")
def get_report(
    user: CurrentUser,
    ctx: Ctx,
    session: SessionDep,
    weeks: Annotated[int, Query(ge=1, le=MAX_WEEKS, description="Weeks up to now")] = 4,
) -> NetworkReport:
    return network_report(
        session, now=ctx.clock.now(), weeks=weeks, merchant_id=user.merchant_scope
    )
