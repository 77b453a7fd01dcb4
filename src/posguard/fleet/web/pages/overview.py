"""The fleet overview: health counts, open incidents by severity, fault charts; live fragment."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.web import queries
from posguard.fleet.web.charts import stacked_bars
from posguard.fleet.web.filters import Filters
from posguard.fleet.web.health import HEALTH_ORDER
from posguard.fleet.web.i18n import translator
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import WebUser, WebUserDep

router = APIRouter(route_class=PageRoute, include_in_schema=False)

LIVE_REFRESH_S = 5


def _data(request: Request, ctx: Ctx, session: SessionDep, user: WebUser) -> dict[str, Any]:
    filters = Filters.from_query(request.query_params, merchant_scope=user.merchant_scope)
    now = ctx.clock.now()
    ov = queries.overview(session, filters=filters, now=now, catalog=ctx.catalog)
    t = translator(user.lang)
    labels = {k: t(f"category.{k}") for k in {*ov.hourly.by_category, *ov.daily.by_category}}
    return {
        "ov": ov,
        "filters": filters,
        "health_order": HEALTH_ORDER,
        "now": now,
        "refresh_s": LIVE_REFRESH_S,
        "chart_hourly": stacked_bars(
            ov.hourly.buckets, ov.hourly.by_category, labels=labels, tick_every=3, tick_format=2
        ),
        "chart_daily": stacked_bars(
            ov.daily.buckets, ov.daily.by_category, labels=labels, tick_every=2, tick_format=5
        ),
    }


@router.get("/ui/")
def overview_page(request: Request, ctx: Ctx, session: SessionDep, user: WebUserDep) -> Response:
    data = _data(request, ctx, session, user)
    data["options"] = queries.filter_options(session, merchant_scope=user.merchant_scope)
    data["merchant_names"] = queries.merchant_names(session, data["options"]["merchant"], user.lang)
    return render(request, "overview.html", data, user=user)


@router.get("/ui/overview/live")
def overview_fragment(
    request: Request, ctx: Ctx, session: SessionDep, user: WebUserDep
) -> Response:
    """The part of the overview htmx polls every few seconds."""
    return render(request, "_overview_live.html", _data(request, ctx, session, user), user=user)


@router.get("/ui")
def overview_redirect() -> Response:
    return Response(status_code=307, headers={"Location": "/ui/"})
