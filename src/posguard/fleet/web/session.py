"""Browser sessions: a signed cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) naming the user
and carrying the session's CSRF token; every POST must echo that token (form field ``csrf`` or
header ``X-CSRF-Token``). Before login, a signed double-submit cookie protects the login form.

The user row is re-read on every request, so disabling a user ends their sessions at once;
logging out ends every session of that user issued until then (``prefs.end_sessions``).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, Response, status
from sqlalchemy.orm import Session

from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.context import FleetContext
from posguard.fleet.db.models import Terminal
from posguard.fleet.repo import terminals as terminal_repo
from posguard.fleet.repo.users import Role, get_user
from posguard.fleet.web import prefs
from posguard.fleet.web.signing import Signer

SESSION_COOKIE = "pg_session"
PRELOGIN_COOKIE = "pg_login_csrf"
LANG_COOKIE = "pg_lang"
SESSION_TTL_S = 8 * 3600
PRELOGIN_TTL_S = 3600
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
PREFIX = "/ui"


@dataclass(frozen=True, slots=True)
class WebUser:
    username: str
    role: Role
    merchant_id: str | None
    csrf: str
    lang: str
    time_zone: str | None = None  # saved IANA zone; None: the language's default

    @property
    def merchant_scope(self) -> str | None:
        return self.merchant_id if self.role is Role.MERCHANT else None

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.ADMIN, Role.OPS)


def session_signer(ctx: FleetContext) -> Signer:
    return Signer(list(ctx.verification_keys().values()), purpose="session")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(response: Response, request: Request, ctx: FleetContext, username: str) -> None:
    issued = ctx.clock.now().timestamp()
    token = session_signer(ctx).dumps({"u": username, "c": secrets.token_urlsafe(24), "t": issued})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_TTL_S,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)


def set_lang_cookie(response: Response, request: Request, lang: str) -> None:
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=365 * 86400,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def request_lang(request: Request) -> str:
    """The language before login: the cookie, else the browser's Accept-Language, else zh-CN."""
    found = prefs.normalize_lang(request.cookies.get(LANG_COOKIE))
    if found:
        return found
    for part in request.headers.get("accept-language", "").split(","):
        found = prefs.normalize_lang(part.split(";")[0])
        if found:
            return found
    return prefs.DEFAULT_LANG


def prelogin_token(request: Request, ctx: FleetContext) -> tuple[str, str | None]:
    """The login form's CSRF token, and a new cookie value when the browser has none."""
    signer = Signer(list(ctx.verification_keys().values()), purpose="prelogin")
    current = signer.loads(request.cookies.get(PRELOGIN_COOKIE), max_age_s=PRELOGIN_TTL_S)
    if current is not None and isinstance(current.get("c"), str):
        return current["c"], None
    token = secrets.token_urlsafe(24)
    return token, signer.dumps({"c": token})


def check_prelogin(request: Request, ctx: FleetContext, submitted: str | None) -> bool:
    signer = Signer(list(ctx.verification_keys().values()), purpose="prelogin")
    current = signer.loads(request.cookies.get(PRELOGIN_COOKIE), max_age_s=PRELOGIN_TTL_S)
    expected = current.get("c") if current else None
    return (
        isinstance(expected, str)
        and submitted is not None
        and hmac.compare_digest(expected.encode(), submitted.encode())
    )


def _login_redirect(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"{PREFIX}/login?next={quote(target, safe='')}"
    headers = {"Location": location}
    if request.headers.get("hx-request"):
        headers["HX-Redirect"] = location
    return HTTPException(status.HTTP_303_SEE_OTHER, "login required", headers=headers)


def current_web_user(request: Request, ctx: Ctx, session: SessionDep) -> WebUser:
    """The logged-in user, or a redirect to the login page."""
    claims = session_signer(ctx).loads(request.cookies.get(SESSION_COOKIE), max_age_s=SESSION_TTL_S)
    if claims is None or not isinstance(claims.get("u"), str):
        raise _login_redirect(request)
    user = get_user(session, username=claims["u"])
    if user is None or user.disabled:
        raise _login_redirect(request)
    saved = prefs.get_prefs(session, username=user.username)
    issued = claims.get("t")
    if saved.logout_at is not None and (
        not isinstance(issued, int | float) or issued <= saved.logout_at
    ):
        raise _login_redirect(request)  # logged out since this session began
    lang = saved.lang or request_lang(request)
    request.state.user = user.username  # for the request log line
    return WebUser(
        user.username, Role(user.role), user.merchant_id, str(claims["c"]), lang, saved.time_zone
    )


WebUserDep = Annotated[WebUser, Depends(current_web_user)]


async def checked_user(request: Request, user: WebUserDep) -> WebUser:
    """The logged-in user of a POST whose CSRF token matches the session's (else 403)."""
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    if submitted is None or not hmac.compare_digest(submitted.encode(), user.csrf.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "csrf")
    return user


PostUser = Annotated[WebUser, Depends(checked_user)]


def staff_only(user: WebUser) -> None:
    if not user.is_staff:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "forbidden")


def visible_terminal(session: Session, terminal_id: str, user: WebUser) -> Terminal:
    """The terminal ``user`` may see; 404 for a terminal that does not exist and for another
    merchant's terminal alike."""
    terminal = terminal_repo.get_terminal(
        session, terminal_id=terminal_id, merchant_id=user.merchant_scope
    )
    if terminal is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "terminal")
    return terminal
