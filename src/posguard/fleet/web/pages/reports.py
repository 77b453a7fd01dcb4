"""Reports (after-sales by brand and model, incident trends, business figures per acquirer
host, area and issuer, overdue maintenance), their charts and CSV downloads, over one date
range (``from``/``to``, the last 30 days by default). A merchant sees its own terminals only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response

from posguard.fleet import maintenance
from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.web.business_data import BusinessRow, business
from posguard.fleet.web.charts import hbars, stacked_bars
from posguard.fleet.web.csv_export import csv_response
from posguard.fleet.web.i18n import translator
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.report_data import TrendRow, brand_ranking, incident_trends
from posguard.fleet.web.report_range import RangeError, ReportRange, parse_range
from posguard.fleet.web.session import WebUser, WebUserDep
from posguard.merchant.brands import GroupStats

router = APIRouter(route_class=PageRoute, include_in_schema=False)

BUSINESS = {"hosts": "host", "areas": "area", "issuers": "issuer"}
ISSUER_BARS = 12
REPORTS = ("brands", "models", "trends", "overdue", *BUSINESS)


def _range(request: Request, ctx: Ctx) -> ReportRange:
    q = request.query_params
    return parse_range(q.get("from"), q.get("to"), today=ctx.clock.now().date())


def _end(ctx: Ctx, rng: ReportRange) -> datetime:
    """The range's end, or now when the range runs to today (an open incident is down until
    now, not until midnight)."""
    return min(rng.until, ctx.clock.now())


def _groups(
    ctx: Ctx, session: SessionDep, user: WebUser, rng: ReportRange, *, by_model: bool
) -> list[GroupStats]:
    ranking = brand_ranking(
        session,
        merchant_id=user.merchant_scope,
        now=_end(ctx, rng),
        by_model=by_model,
        since=rng.since,
    )
    return [*ranking.ranked, *ranking.insufficient]


def _trends(ctx: Ctx, session: SessionDep, user: WebUser, rng: ReportRange) -> list[TrendRow]:
    return incident_trends(
        session,
        merchant_id=user.merchant_scope,
        now=rng.until,
        since=rng.since,
        catalog=ctx.catalog,
    )


def _rates(t: Any, rows: list[BusinessRow], title: str) -> Any:
    return hbars(
        [(r.key, r.approval_rate) for r in rows if r.approval_rate is not None],
        title=t(title),
        peak=1.0,
        fmt="{:.1%}",
    )


def _charts(
    t: Any,
    rng: ReportRange,
    trends: list[TrendRow],
    models: list[GroupStats],
    figures: dict[str, list[BusinessRow]],
) -> dict[str, Any]:
    days = [(rng.first + timedelta(days=i)).isoformat() for i in range(rng.days)]
    index = {d: i for i, d in enumerate(days)}
    series: dict[str, list[int]] = {}
    for r in trends:
        if r.opened and r.day in index:
            series.setdefault(r.category, [0] * len(days))[index[r.day]] += r.opened
    labels = {k: t(f"category.{k}") for k in series}
    mttr = [(f"{g.brand} {g.model or ''}".strip(), g.mttr_hours) for g in models]
    return {
        "chart_trends": stacked_bars(
            days, series, labels=labels, tick_every=max(len(days) // 6, 1), tick_format=5
        ),
        "chart_mttr": hbars(
            [(name, h) for name, h in mttr if h is not None], title=t("reports.chart_mttr")
        ),
        "chart_approval": _rates(t, figures["host"], "reports.chart_approval"),
        "chart_issuer": _rates(  # the busiest issuers
            t,
            sorted(figures["issuer"], key=lambda r: -r.count)[:ISSUER_BARS],
            "reports.chart_issuer",
        ),
    }


def _data(ctx: Ctx, session: SessionDep, user: WebUser, rng: ReportRange) -> dict[str, Any]:
    figures = business(session, merchant_id=user.merchant_scope, since=rng.since, until=rng.until)
    models = _groups(ctx, session, user, rng, by_model=True)
    trends = _trends(ctx, session, user, rng)
    return {
        "rng": rng,
        "error": None,
        "brands": _groups(ctx, session, user, rng, by_model=False),
        "models": models,
        "trends": trends,
        "business": figures,
        "overdue": maintenance.overdue(session, today=rng.last, merchant_id=user.merchant_scope),
        **_charts(translator(user.lang), rng, trends, models, figures),
    }


@router.get("/ui/reports")
def reports_page(request: Request, ctx: Ctx, session: SessionDep, user: WebUserDep) -> Response:
    try:
        rng = _range(request, ctx)
    except RangeError as e:
        q = request.query_params
        data = {
            "rng": None,
            "error": translator(user.lang)(str(e)),
            "first": q.get("from"),
            "last": q.get("to"),
        }
        return render(request, "reports.html", data, user=user, status_code=400)
    return render(request, "reports.html", _data(ctx, session, user, rng), user=user)


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


def _business_rows(rows: list[BusinessRow]) -> list[list[Any]]:
    return [[r.key, r.count, r.approved, r.approval_rate, r.failover_share] for r in rows]


def _csv(
    name: str, t: Any, ctx: Ctx, session: SessionDep, user: WebUser, rng: ReportRange
) -> tuple[list[str], list[list[Any]]]:
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
        return header, _group_rows(_groups(ctx, session, user, rng, by_model=name == "models"))
    if name == "trends":
        header = [
            t("reports.day"),
            t("reports.category"),
            t("reports.opened"),
            t("reports.resolved"),
        ]
        trend = _trends(ctx, session, user, rng)
        return header, [[r.day, t(f"category.{r.category}"), r.opened, r.resolved] for r in trend]
    if name in BUSINESS:
        group = BUSINESS[name]
        header = [
            t(f"reports.{group}"),
            t("reports.transactions"),
            t("reports.approved"),
            t("reports.approval_rate"),
            t("reports.failover_share"),
        ]
        figures = business(
            session, merchant_id=user.merchant_scope, since=rng.since, until=rng.until
        )
        return header, _business_rows(figures[group])
    header = [
        t("filter.terminal"),
        t("filter.merchant"),
        t("filter.model"),
        t("reports.last_inspection"),
        t("reports.due"),
        t("reports.days_overdue"),
    ]
    overdue = maintenance.overdue(session, today=rng.last, merchant_id=user.merchant_scope)
    return header, [
        [o.terminal_id, o.merchant_id, o.model, o.last_inspection, o.due, o.days_overdue]
        for o in overdue
    ]


@router.get("/ui/reports/{name}.csv")
def report_csv(
    name: str, request: Request, ctx: Ctx, session: SessionDep, user: WebUserDep
) -> Response:
    if name not in REPORTS:
        raise HTTPException(404, "report")
    t = translator(user.lang)
    try:
        rng = _range(request, ctx)
    except RangeError as e:
        return PlainTextResponse(t(str(e)), status_code=400)
    header, rows = _csv(name, t, ctx, session, user, rng)
    span = f"{rng.first.isoformat()}_{rng.last.isoformat()}"
    return csv_response(f"posguard-{name}-{span}.csv", header, rows)
