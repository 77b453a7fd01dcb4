"""Who needs training on what, on the dashboard (``/ui/training``): the training list (merchants
and operators whose operator-error rates are clearly above the fleet's, with the topics) and the
sessions held with their error rate before and after. A merchant sees its own.

Staff record a session held with the form on the page (``POST /ui/training/sessions``: merchant,
operator, topics, trainer, date, note); a form with a mistake comes back with each problem next
to its field, in the reader's language, and the values typed kept; nothing is recorded."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.db.models import Merchant
from posguard.fleet.training import training_list
from posguard.fleet.training.form import Problem, SessionForm, operator_topics, record_form
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import PostUser, WebUser, WebUserDep, staff_only

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _page(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    user: WebUser,
    days: int,
    form: SessionForm | None = None,
    problems: list[Problem] | None = None,
) -> Response:
    data = training_list(session, now=ctx.clock.now(), days=days, merchant_id=user.merchant_scope)
    titles = {code: entry.title for code, entry in ctx.catalog.items()}
    extra: dict[str, Any] = {}
    if user.is_staff:
        extra = {
            "merchants": session.execute(
                select(Merchant.id, Merchant.name).order_by(Merchant.id)
            ).all(),
            "topics": operator_topics(ctx.catalog),
            "form": form
            or SessionForm(trainer=user.username, held_on=ctx.clock.now().date().isoformat()),
            "problems": {p.field: p.text(user.lang) for p in problems or []},
        }
    done = request.query_params.get("done") == "recorded"
    return render(
        request,
        "training.html",
        {"tl": data, "titles": titles, "done": done, **extra},
        user=user,
        status_code=422 if problems else 200,
    )


@router.get("/ui/training")
def training_page(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    user: WebUserDep,
    days: Annotated[int, Query(ge=1, le=365)] = 28,
) -> Response:
    return _page(request, ctx, session, user, days)


@router.post("/ui/training/sessions")
def record_training(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    merchant_id: Annotated[str, Form(max_length=64)] = "",
    operator: Annotated[str, Form(max_length=64)] = "",
    topics: Annotated[list[str] | None, Form(max_length=40)] = None,
    trainer: Annotated[str, Form(max_length=200)] = "",
    held_on: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Record a training session held (staff only), as ``POST /api/v1/training/sessions``."""
    staff_only(user)
    form = SessionForm(merchant_id, operator, list(topics or []), trainer, held_on, note)
    result = record_form(session, form, ctx.catalog, ctx.clock.now())
    if isinstance(result, list):
        return _page(request, ctx, session, user, 28, form, result)
    return RedirectResponse("/ui/training?done=recorded#training-sessions", status_code=303)
