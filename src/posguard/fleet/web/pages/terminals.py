"""The terminal page: identity, outcome rates, printer, pending work, timeline, actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from posguard.fleet import capabilities
from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.capabilities import can_run
from posguard.fleet.web import queries
from posguard.fleet.web.pages.commands import TERMINAL_ACTIONS, available
from posguard.fleet.web.pages.timeline import timeline
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import WebUserDep, visible_terminal
from posguard.fleet.web.terminal_data import terminal_view

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/ui/terminals/{terminal_id}")
def terminal_page(
    request: Request,
    terminal_id: Annotated[str, Path(max_length=64)],
    ctx: Ctx,
    session: SessionDep,
    user: WebUserDep,
) -> Response:
    """404 for a terminal that does not exist and for another merchant's terminal alike."""
    terminal = visible_terminal(session, terminal_id, user)
    now = ctx.clock.now()
    view = terminal_view(session, terminal=terminal, now=now, lang=user.lang)
    health = queries.health_of(session, terminal=terminal, now=now, catalog=ctx.catalog)
    runs = capabilities.of_terminals(session, [terminal.id]).get(terminal.id)
    return render(
        request,
        "terminal.html",
        {
            "v": view,
            "health": health,
            "actions": [(a, available(a) and can_run(runs, a)) for a in TERMINAL_ACTIONS],
            "today": now.date(),
            "sent": request.query_params.get("sent"),
            "tl": timeline(
                session,
                terminal_id=terminal.id,
                query=request.query_params,
                user=user,
                catalog=ctx.catalog,
            ),
        },
        user=user,
    )
