"""Log in, log out, switch language."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.repo import users as user_repo
from posguard.fleet.web import prefs
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import (
    PREFIX,
    PRELOGIN_COOKIE,
    PRELOGIN_TTL_S,
    PostUser,
    check_prelogin,
    clear_session,
    prelogin_token,
    request_lang,
    set_lang_cookie,
    set_session,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a local dashboard path may follow the login (no open redirect).

    >>> safe_next("/ui/incidents?status=open"), safe_next("//evil.example/ui"), safe_next(None)
    ('/ui/incidents?status=open', '/ui/', '/ui/')
    """
    if not target or not target.startswith(PREFIX + "/") or target.startswith("//"):
        return PREFIX + "/"
    if any(c in target for c in "\\\r\n"):
        return PREFIX + "/"
    return target


def _login_page(
    request: Request, ctx: Ctx, *, next_: str, error: str | None, status_code: int = 200
) -> Response:
    token, cookie = prelogin_token(request, ctx)
    resp = render(
        request,
        "login.html",
        {"login_csrf": token, "next": safe_next(next_), "error": error},
        status_code=status_code,
    )
    if cookie is not None:
        resp.set_cookie(
            PRELOGIN_COOKIE,
            cookie,
            max_age=PRELOGIN_TTL_S,
            path=PREFIX,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return resp


@router.get("/ui/login")
def login_form(
    request: Request,
    ctx: Ctx,
    next: str | None = None,
    lang: str | None = None,
) -> Response:
    chosen = prefs.normalize_lang(lang)
    if chosen is None:
        return _login_page(request, ctx, next_=next or "", error=None)
    resp = RedirectResponse(f"{PREFIX}/login?next={quote(safe_next(next), safe='')}", 303)
    set_lang_cookie(resp, request, chosen)
    return resp


@router.post("/ui/login")
def login(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not check_prelogin(request, ctx, csrf):
        return _login_page(request, ctx, next_=next, error="login.expired", status_code=403)
    key = (username, request.client.host if request.client else "")
    wait = ctx.logins.retry_after(key)
    if wait is not None:
        page = _login_page(request, ctx, next_=next, error="login.locked", status_code=429)
        page.headers["Retry-After"] = str(wait)
        return page
    user = user_repo.authenticate(session, username=username, password=password)
    if user is None:
        ctx.logins.failed(key)
        return _login_page(request, ctx, next_=next, error="login.failed", status_code=401)
    ctx.logins.succeeded(key)
    resp = RedirectResponse(safe_next(next), status_code=303)
    set_session(resp, request, ctx, user.username)
    resp.delete_cookie(PRELOGIN_COOKIE, path=PREFIX)
    if prefs.get_prefs(session, username=user.username).lang is None:
        # the language chosen before logging in becomes the user's
        prefs.set_lang(
            session, username=user.username, lang=request_lang(request), now=ctx.clock.now()
        )
    return resp


@router.post("/ui/logout")
def logout(ctx: Ctx, session: SessionDep, user: PostUser) -> Response:
    prefs.end_sessions(session, username=user.username, now=ctx.clock.now())
    resp = RedirectResponse(f"{PREFIX}/login", status_code=303)
    clear_session(resp)
    return resp


@router.post("/ui/lang")
def switch_language(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    lang: Annotated[str, Form(max_length=8)],
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    chosen = prefs.normalize_lang(lang) or prefs.DEFAULT_LANG
    prefs.set_lang(session, username=user.username, lang=chosen, now=ctx.clock.now())
    resp = RedirectResponse(safe_next(next), status_code=303)
    set_lang_cookie(resp, request, chosen)
    return resp
