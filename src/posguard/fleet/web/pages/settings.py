"""The user's own settings: the time zone every page shows times in (``web.formatting``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.web import prefs
from posguard.fleet.web.formatting import ZONE_CHOICES, Formatter, valid_zone, zone_for
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import PostUser, WebUserDep

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/ui/settings")
def settings_page(request: Request, ctx: Ctx, user: WebUserDep) -> Response:
    zone = zone_for(user.lang, user.time_zone)
    choices = list(ZONE_CHOICES) if zone in ZONE_CHOICES else [zone, *ZONE_CHOICES]
    data = {
        "zone": zone,
        "saved": user.time_zone,
        "choices": choices,
        "example": Formatter(user.lang, user.time_zone, ctx.clock.now()).time(ctx.clock.now()),
        "saved_ok": request.query_params.get("saved") == "1",
    }
    return render(request, "settings.html", data, user=user)


@router.post("/ui/settings")
def save_settings(
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    time_zone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """An empty zone goes back to the language's default; an unknown one is refused."""
    zone = valid_zone(time_zone.strip()) if time_zone.strip() else None
    if time_zone.strip() and zone is None:
        raise HTTPException(422, f"unknown time zone {time_zone!r}")
    prefs.set_time_zone(session, username=user.username, zone=zone, now=ctx.clock.now())
    return RedirectResponse("/ui/settings?saved=1", status_code=303)
