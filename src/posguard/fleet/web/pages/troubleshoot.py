"""The knowledge base in the browser: search, then the guided wizard.

The wizard's whole state travels in the page as signed JSON (HMAC, one hour), so a walk needs
no server-side store and survives any number of API workers; a forged or stale state is
refused."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response

from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.web.checks import fleet_runners
from posguard.fleet.web.i18n import lang_key
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import PostUser, WebUser, WebUserDep, visible_terminal
from posguard.fleet.web.signing import Signer
from posguard.kb.search import KnowledgeBase
from posguard.kb.wizard import Answer, Wizard, WizardError, WizardState

router = APIRouter(route_class=PageRoute, include_in_schema=False)

WALK_TTL_S = 3600
MAX_QUERY = 2000


def _signer(ctx: Ctx) -> Signer:
    return Signer(list(ctx.verification_keys().values()), purpose="wizard")


def _runners(ctx: Ctx, session: SessionDep, user: WebUser) -> Any:
    return fleet_runners(
        session,
        now=ctx.clock.now(),
        default_heartbeat_s=ctx.settings.default_heartbeat_interval_s,
        merchant_id=user.merchant_scope,
    )


@router.get("/ui/troubleshoot")
def troubleshoot(request: Request, user: WebUserDep, q: str = "", terminal: str = "") -> Response:
    q = q[:MAX_QUERY]
    result = KnowledgeBase.default().search(q, limit=8, lang=lang_key(user.lang)) if q else None
    return render(
        request,
        "troubleshoot.html",
        {"q": q, "result": result, "terminal": terminal[:64], "walk": None},
        user=user,
    )


def _walk_page(request: Request, ctx: Ctx, user: WebUser, wizard: Wizard) -> Response:
    state = wizard.state.model_dump(mode="json")
    return render(
        request,
        "troubleshoot.html",
        {
            "q": "",
            "result": None,
            "terminal": wizard.state.terminal_id or "",
            "walk": wizard.prompt(),
            "walk_state": _signer(ctx).dumps(state),
            "answers": [a.value for a in Answer],
        },
        user=user,
    )


@router.post("/ui/troubleshoot/walk")
def start_walk(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    code: Annotated[str, Form(max_length=60)],
    terminal: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    kb = KnowledgeBase.default()
    if code.strip().upper() not in kb.catalog:
        raise HTTPException(404, "code")
    tid = terminal.strip() or None
    if tid is not None:
        visible_terminal(session, tid, user)  # 404 unless the reader may see it
    wizard = Wizard.start(
        code,
        terminal_id=tid,
        lang=lang_key(user.lang),
        runners=_runners(ctx, session, user),
        catalog=kb.catalog,
    )
    return _walk_page(request, ctx, user, wizard)


@router.post("/ui/troubleshoot/walk/answer")
def answer_walk(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    state: Annotated[str, Form(max_length=60_000)],
    answer: Annotated[str, Form(max_length=20)],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    raw = _signer(ctx).loads(state, max_age_s=WALK_TTL_S)
    if raw is None:
        return render(
            request,
            "error.html",
            {"message_key": "kb.expired", "detail": "", "code": 409},
            user=user,
            status_code=409,
        )
    kb = KnowledgeBase.default()
    try:
        ws = WizardState.model_validate(raw)
        wizard = Wizard.resume(ws, runners=_runners(ctx, session, user), catalog=kb.catalog)
        wizard.answer(answer, note)
    except (WizardError, ValueError) as exc:
        raise HTTPException(409, str(exc)) from exc
    return _walk_page(request, ctx, user, wizard)
