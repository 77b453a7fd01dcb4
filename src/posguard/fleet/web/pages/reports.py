"""Reports (after-sales by brand and model, incident trends, overdue maintenance) and their CSV
downloads. A merchant sees its own terminals only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from posguard.fleet import maintenance
from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.web.csv_export import csv_response
from posguard.fleet.web.i18n import translator
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.report_data import brand_ranking, incident_trends
from posguard.fleet.web.session import WebUser, WebUserDep
from posguard.merchant.brands import GroupStats

router = APIRouter(route_class=PageRoute, include_in_schema=False)

REPORTS = ("brands", "models", "trends", "overdue")


def _groups(ctx: Ctx, session: SessionDep, user: WebUser, *, by_model: bool) -> list[GroupStats]:
    ranking = brand_ranking(
        session, merchant_id=user.merchant_scope, now=ctx.clock.now(), by_model=by_model
    )
    return [*ranking.ranked, *ranking.insufficient]


def _data(ctx: Ctx, session: SessionDep, user: WebUser) -> dict[str, Any]:
    now = ctx.clock.now()
    return {
        "brands": _groups(ctx, session, user, by_model=False),
        "models": _groups(ctx, session, user, by_model=True),
        "trends": incident_trends(
            session, merchant_id=user.merchant_scope, now=now, catalog=ctx.catalog
        ),
        "overdue": maintenance.overdue(session, today=now.date(), merchant_id=user.merchant_scope),
    }


@router.get("/ui/reports")
def reports_page(request: Request, ctx: Ctx, session: SessionDep, user: WebUserDep) -> Response:
    return render(request, "reports.html", _data(ctx, session, user), user=user)


def _group_rows(groups: list[GroupStats]) -> list[list[Any]]:
    return [
        [
            g.rank,
            g.brand,
            g.model or "",
            g.terminals,
            round(g.terminal_years, 2),
            g.incidents,
            g.resolved,
            None
            if g.failures_per_terminal_year is None
            else round(g.failures_per_terminal_year, 3),
            None if g.mttr_hours is None else round(g.mttr_hours, 2),
            None if g.remote_share is None else round(g.remote_share, 3),
            None
            if g.downtime_hours_per_terminal_year is None
            else round(g.downtime_hours_per_terminal_year, 3),
        ]
        for g in groups
    ]


@router.get("/ui/reports/{name}.csv")
def report_csv(name: str, ctx: Ctx, session: SessionDep, user: WebUserDep) -> Response:
    if name not in REPORTS:
        raise HTTPException(404, "report")
    t = translator(user.lang)
    day = ctx.clock.now().date().isoformat()
    if name in ("brands", "models"):
        header = [
            t("reports.rank"),
            t("filter.brand"),
            t("filter.model"),
            t("reports.terminals"),
            t("reports.terminal_years"),
            t("reports.incidents"),
            t("reports.resolved"),
            t("reports.failure_rate"),
            t("reports.mttr"),
            t("reports.remote_share"),
            t("reports.downtime"),
        ]
        rows = _group_rows(_groups(ctx, session, user, by_model=name == "models"))
    elif name == "trends":
        header = [
            t("reports.day"),
            t("reports.category"),
            t("reports.opened"),
            t("reports.resolved"),
        ]
        trend = incident_trends(
            session, merchant_id=user.merchant_scope, now=ctx.clock.now(), catalog=ctx.catalog
        )
        rows = [[r.day, t(f"category.{r.category}"), r.opened, r.resolved] for r in trend]
    else:
        header = [
            t("filter.terminal"),
            t("filter.merchant"),
            t("filter.model"),
            t("reports.last_inspection"),
            t("reports.due"),
            t("reports.days_overdue"),
        ]
        rows = [
            [o.terminal_id, o.merchant_id, o.model, o.last_inspection, o.due, o.days_overdue]
            for o in maintenance.overdue(
                session, today=ctx.clock.now().date(), merchant_id=user.merchant_scope
            )
        ]
    return csv_response(f"posguard-{name}-{day}.csv", header, rows)
