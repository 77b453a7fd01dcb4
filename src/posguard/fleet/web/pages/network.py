"""The network report on the dashboard (``/ui/network``): the worst places first, each with its
recommendation; a CSV download and a printable page for the talk with the network provider.
A merchant sees its own terminals' figures against the fleet's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.network_report import MAX_WEEKS, NetworkReport, network_report
from posguard.fleet.network_report.export import columns, table, trend_label
from posguard.fleet.web.csv_export import csv_response
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import WebUser, WebUserDep

router = APIRouter(route_class=PageRoute, include_in_schema=False)

Weeks = Annotated[int, Query(ge=1, le=MAX_WEEKS)]


def _report(ctx: Ctx, session: SessionDep, user: WebUser, weeks: int) -> NetworkReport:
    return network_report(
        session, now=ctx.clock.now(), weeks=weeks, merchant_id=user.merchant_scope
    )


def _page(request: Request, template: str, report: NetworkReport, user: WebUser) -> Response:
    data = {"report": report, "trend_label": trend_label, "weeks": report.weeks}
    return render(request, template, data, user=user)


@router.get("/ui/network")
def network_page(
    request: Request, ctx: Ctx, session: SessionDep, user: WebUserDep, weeks: Weeks = 4
) -> Response:
    return _page(request, "network.html", _report(ctx, session, user, weeks), user)


@router.get("/ui/network/print")
def network_print(
    request: Request, ctx: Ctx, session: SessionDep, user: WebUserDep, weeks: Weeks = 4
) -> Response:
    return _page(request, "network_print.html", _report(ctx, session, user, weeks), user)


@router.get("/ui/network.csv")
def network_csv(ctx: Ctx, session: SessionDep, user: WebUserDep, weeks: Weeks = 4) -> Response:
    report = _report(ctx, session, user, weeks)
    day = report.until.date().isoformat()
    scope = f"-{user.merchant_scope}" if user.merchant_scope else ""
    return csv_response(
        f"posguard-network{scope}-{day}.csv", columns(user.lang), table(report, user.lang)
    )
