"""Terminal registration from the dashboard (admin only): one terminal -- ID, merchant,
model and brand, serial, acquirer host, area, location -- through ``fleet.provision`` (the
import's validation and write path, nothing of its own). The new credential is shown once,
on the page that answers the POST (no redirect, no-store); a bad field, an unknown merchant
or a terminal already registered is one line in the reader's language above the form, with
what was typed kept."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from posguard.fleet import provision
from posguard.fleet.admin_errors import AdminRefusedError
from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.db.models import Merchant
from posguard.fleet.web.merchant_names import display_name
from posguard.fleet.web.pages.admin import admin_only, refusal
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import PostUser, WebUser, WebUserDep

router = APIRouter(route_class=PageRoute, include_in_schema=False)

FIELDS = ("id", "merchant_id", "brand", "model", "serial", "acquirer_host", "area", "location")
Text = Annotated[str, Form(max_length=200)]


def _page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    form: dict[str, str],
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    merchants = session.scalars(select(Merchant).order_by(Merchant.id).limit(5000)).all()
    data = {
        "form": form,
        "merchants": [(m.id, display_name(m, user.lang)) for m in merchants],
        "fields": FIELDS,
        **extra,
    }
    return render(request, "admin_register.html", data, user=user, status_code=status_code)


@router.get("/ui/admin/terminals/new")
def register_form(request: Request, session: SessionDep, user: WebUserDep) -> Response:
    admin_only(user)
    merchant = request.query_params.get("merchant_id", "")[:64]
    return _page(request, session, user, {"merchant_id": merchant})


@router.post("/ui/admin/terminals/new")
def register(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    id: Text = "",
    merchant_id: Text = "",
    brand: Text = "",
    model: Text = "",
    serial: Text = "",
    acquirer_host: Text = "",
    area: Text = "",
    location: Text = "",
) -> Response:
    admin_only(user)
    form = {
        "id": id.strip(),
        "merchant_id": merchant_id.strip(),
        "brand": brand.strip(),
        "model": model.strip(),
        "serial": serial.strip(),
        "acquirer_host": acquirer_host.strip(),
        "area": area.strip(),
        "location": location.strip(),
    }
    fields = {k: v for k, v in form.items() if v or k in ("id", "merchant_id", "model")}
    fields.setdefault("brand", "unknown")
    try:
        issued = provision.register_terminal(session, fields, now=ctx.clock.now())
    except AdminRefusedError as exc:  # refused before anything was written
        return _page(request, session, user, form, **refusal(exc, user))
    return _page(
        request,
        session,
        user,
        {"merchant_id": form["merchant_id"]},
        registered=issued.terminal_id,
        credential=issued.credential,
    )
