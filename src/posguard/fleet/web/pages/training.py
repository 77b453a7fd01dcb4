"""Who needs training on what, on the dashboard (``/ui/training``): the training list (merchants
and operators whose operator-error rates are clearly above the fleet's, with the topics) and the
sessions held with their error rate before and after. A merchant sees its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.training import training_list
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import WebUserDep

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/ui/training")
def training_page(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    user: WebUserDep,
    days: Annotated[int, Query(ge=1, le=365)] = 28,
) -> Response:
    data = training_list(session, now=ctx.clock.now(), days=days, merchant_id=user.merchant_scope)
    titles = {code: entry.title for code, entry in ctx.catalog.items()}
    return render(request, "training.html", {"tl": data, "titles": titles}, user=user)
