"""Incident list (filters) and incident page (timeline, rule, steps, workflow, audit trail);
the page's actions are in ``incident_workflow.py``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response

from posguard.catalog.model import Audience, Category
from posguard.common.commands import Page, offered_on
from posguard.fleet import capabilities
from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.capabilities import can_run
from posguard.fleet.db.models import Terminal
from posguard.fleet.incident_policy import get_policy
from posguard.fleet.merchant_view import merchant_safe_explanation
from posguard.fleet.repo import commands as command_repo
from posguard.fleet.repo import incidents as repo
from posguard.fleet.repo.users import Role
from posguard.fleet.web import queries, rollout_view
from posguard.fleet.web.filters import Filters
from posguard.fleet.web.pages.commands import available
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import WebUser, WebUserDep
from posguard.fleet.web.workflow_view import assignee_label, sla_status, workflow_context

router = APIRouter(route_class=PageRoute, include_in_schema=False)

IncidentId = Annotated[int, Path(ge=1, le=2**53)]
STATUSES = ("active", "open", "acknowledged", "resolved", "merged")
INCIDENT_COMMANDS = offered_on(Page.INCIDENT)


def _audiences(user: WebUser) -> set[Audience]:
    if user.role is Role.MERCHANT:
        return {Audience.MERCHANT, Audience.CARDHOLDER}
    return set(Audience)


@router.get("/ui/incidents")
def incident_list(request: Request, ctx: Ctx, session: SessionDep, user: WebUserDep) -> Response:
    qp = request.query_params
    filters = Filters.from_query(qp, merchant_scope=user.merchant_scope)
    asked = qp.get("status", "active")
    status = asked if asked in STATUSES else None
    severity = qp.get("severity") if qp.get("severity") in queries.SEVERITIES else None
    category = qp.get("category") if qp.get("category") in {c.value for c in Category} else None
    codes = None
    if category is not None:
        codes = [e.code for e in ctx.catalog.values() if e.category.value == category]
    terminal = (qp.get("terminal") or "").strip()[:64] or None
    rows = queries.list_incidents(
        session,
        filters=filters,
        status=status,
        severity=severity,
        category_codes=codes,
        terminal_id=terminal,
        also_ids=list(repo.fleet_incidents_of_merchant(session, merchant_id=user.merchant_scope))
        if user.merchant_scope is not None
        else (),
    )
    options = queries.filter_options(session, merchant_scope=user.merchant_scope)
    policy, now = get_policy(), ctx.clock.now()
    breached = {inc.id for inc, _ in rows if (sla := sla_status(inc, policy, now)) and sla.breached}
    return render(
        request,
        "incidents.html",
        {
            "rows": rows,
            "breached": breached,
            "assignee_of": lambda v: assignee_label(v, policy, user.lang),
            "filters": filters,
            "status": status or "",
            "severity": severity or "",
            "category": category or "",
            "terminal": terminal or "",
            "statuses": STATUSES,
            "severities": queries.SEVERITIES,
            "categories": [c.value for c in Category],
            "options": options,
            "merchant_names": queries.merchant_names(session, options["merchant"], user.lang),
            "catalog": ctx.catalog,
        },
        user=user,
    )


def _detail(ctx: Ctx, session: SessionDep, user: WebUser, incident_id: int) -> dict[str, Any]:
    inc = repo.get_incident(session, incident_id=incident_id, merchant_id=user.merchant_scope)
    if inc is None:
        raise HTTPException(404, "incident")
    entry = ctx.catalog.get(inc.code)
    rule = next((r for r in ctx.rules if r.id == inc.rule_id), None)
    members: list[str] = []
    own: list[str] | None = None  # a merchant on a fleet-wide incident: its terminals only
    explanation = inc.explanation
    if inc.terminal_id:
        members = [inc.terminal_id]
    elif user.merchant_scope is None:
        members = [str(m) for m in inc.explanation.get("members", [])]
    else:
        own = members = repo.merchant_terminals_in(
            session, incident=inc, merchant_id=user.merchant_scope
        )
        explanation = merchant_safe_explanation(inc.explanation, own)
    terminals = {
        t.id: t for t in session.query(Terminal).filter(Terminal.id.in_(members[:500])).all()
    }
    runs = capabilities.of_terminals(session, [inc.terminal_id] if inc.terminal_id else [])
    show_steps = entry is not None and bool(_audiences(user) & set(entry.audience))
    children = [
        c
        for c in repo.list_incidents(session, parent_id=inc.id, merchant_id=user.merchant_scope)
        if c.parent_id == inc.id
    ]
    return {
        "inc": inc,
        "explanation": explanation,
        "fleet_wide_for_merchant": own is not None,
        "entry": entry,
        "rule": rule,
        "members": members,
        "terminals": terminals,
        "events": repo.incident_events(session, incident_id=inc.id, limit=200, terminal_ids=own),
        "show_steps": show_steps,
        "children": children,
        "commands": command_repo.list_commands(session, terminal_id=inc.terminal_id, limit=20)
        if inc.terminal_id
        else [],
        "rollouts": rollout_view.shipping(session, inc) if user.merchant_scope is None else [],
        "incident_commands": [
            (c, can_run(runs.get(inc.terminal_id or ""), c))
            for c in INCIDENT_COMMANDS
            if available(c)
        ],
        **workflow_context(session, inc=inc, user=user, policy=get_policy(), now=ctx.clock.now()),
    }


@router.get("/ui/incidents/{incident_id}")
def incident_page(
    request: Request, incident_id: IncidentId, ctx: Ctx, session: SessionDep, user: WebUserDep
) -> Response:
    data = _detail(ctx, session, user, incident_id)
    data["commands"] = [c for c in data["commands"] if c.incident_id == incident_id]
    data["sent"] = request.query_params.get("sent")
    return render(request, "incident.html", data, user=user)
