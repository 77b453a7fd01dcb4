"""Jinja2 rendering with the page context every template gets (user, language, CSRF token,
translator, formatting helpers), and the route class that turns errors into HTML pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from posguard.fleet.web.formatting import Formatter, number, yuan
from posguard.fleet.web.i18n import lang_key, translator
from posguard.fleet.web.session import WebUser, request_lang

_ERROR_KEYS = {
    403: "error.forbidden",
    404: "error.not_found",
    409: "error.conflict",
    422: "error.invalid",
}


def fmt_time(value: datetime | None) -> str:
    """UTC time to the second, or an em dash.

    >>> fmt_time(datetime(2026, 11, 25, 10, 0, 5, 123, tzinfo=UTC))
    '2026-11-25 10:00:05Z'
    """
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def fmt_date(value: date | None) -> str:
    return "—" if value is None else value.isoformat()


@pass_context
def _user_time(context: Context, value: datetime | None) -> str:
    """``|time`` in a page: the user's zone and reading (:mod:`posguard.fleet.web.formatting`)."""
    fmt = context.get("fmt")
    return fmt.time(value) if isinstance(fmt, Formatter) else fmt_time(value)


@pass_context
def _user_day(context: Context, value: date | None) -> str:
    fmt = context.get("fmt")
    return fmt.day(value) if isinstance(fmt, Formatter) else fmt_date(value)


@pass_context
def _user_ago(context: Context, value: datetime | None) -> str:
    fmt = context.get("fmt")
    return fmt.ago(value) if isinstance(fmt, Formatter) else fmt_time(value)


def fmt_num(value: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals, or an em dash.

    >>> fmt_num(1.234), fmt_num(None), fmt_num(0.5, 0)
    ('1.23', '—', '0')
    """
    return "—" if value is None else f"{value:.{digits}f}"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _now(request: Request) -> datetime:
    """The fleet's clock (a test's fake one included), else the wall clock."""
    fleet = getattr(request.app.state, "fleet", None)
    return fleet.clock.now() if fleet is not None else datetime.now(UTC)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("posguard.fleet.web", "templates"),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        time=_user_time,
        day=_user_day,
        ago=_user_ago,
        num=fmt_num,
        pct=fmt_pct,
        yuan=yuan,
        number=number,
    )
    return env


def render(
    request: Request,
    template: str,
    data: Mapping[str, Any] | None = None,
    *,
    user: WebUser | None = None,
    status_code: int = 200,
    lang: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    lang = lang or (user.lang if user else request_lang(request))
    page = (
        environment()
        .get_template(template)
        .render(
            request=request,
            user=user,
            lang=lang,
            lk=lang_key(lang),
            t=translator(lang),
            csrf=user.csrf if user else "",
            path=request.url.path,
            fmt=Formatter(lang, user.time_zone if user else None, _now(request)),
            **(data or {}),
        )
    )
    resp = HTMLResponse(page, status_code=status_code, headers=dict(headers or {}))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    return resp


def error_page(request: Request, status_code: int, detail: str = "") -> HTMLResponse:
    key = "error.csrf" if detail == "csrf" else _ERROR_KEYS.get(status_code, "error.title")
    return render(
        request,
        "error.html",
        {
            "message_key": key,
            "detail": detail if status_code in (409, 422) else "",
            "code": status_code,
        },
        status_code=status_code,
    )


class PageRoute(APIRoute):
    """Errors become HTML pages (404 for what a user may not see, 403, CSRF) and a login
    redirect becomes a real redirect, instead of the API's JSON bodies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                if exc.status_code == 303 and exc.headers:
                    return RedirectResponse(
                        exc.headers["Location"], status_code=303, headers=dict(exc.headers)
                    )
                if exc.status_code in (400, 403, 404, 409, 422):
                    return error_page(request, exc.status_code, str(exc.detail))
                raise

        return page_handler
