"""Merchants in the administration pages (admin only): the list with a search, a merchant
created or renamed with its name in Chinese and English, and its contacts -- a notification
channel of the notify config and the address on it, in the contact's language, and a phone
number. Notifications to a merchant go to these contacts (``notify.merchant_contacts``).
A refusal is one line in the reader's language above the form, with what was typed kept."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, or_, select

from posguard.fleet import merchant_admin
from posguard.fleet.admin_errors import AdminRefusedError
from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.db.models import Merchant, Terminal
from posguard.fleet.web.merchant_names import display_name
from posguard.fleet.web.pages.admin import admin_only, refusal
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import PostUser, WebUser, WebUserDep

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE = "/ui/admin/merchants"
LIST_LIMIT = 200
MerchantId = Annotated[str, Path(max_length=64)]
Text = Annotated[str, Form(max_length=400)]
DONE = frozenset({"created", "saved", "contact_added", "contact_deleted"})


def _list_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    *,
    form: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    search = (request.query_params.get("q") or "").strip()[:100]
    q = select(Merchant).order_by(Merchant.id).limit(LIST_LIMIT)
    if search:
        low = search.lower()
        q = q.where(
            or_(
                func.lower(Merchant.id).contains(low, autoescape=True),
                func.lower(Merchant.name).contains(low, autoescape=True),
                func.lower(Merchant.name_en).contains(low, autoescape=True),
                Merchant.name_zh.contains(search, autoescape=True),
            )
        )
    merchants = session.scalars(q).all()
    counts = dict(
        session.execute(
            select(Terminal.merchant_id, func.count())
            .where(Terminal.merchant_id.in_([m.id for m in merchants]))
            .group_by(Terminal.merchant_id)
        ).all()
    )
    data: dict[str, Any] = {
        "merchants": [(m, display_name(m, user.lang), counts.get(m.id, 0)) for m in merchants],
        "search": search,
        "form": form or {},
        "error": error,
        "limit": LIST_LIMIT,
    }
    return render(request, "admin_merchants.html", data, user=user, status_code=status_code)


@router.get(PAGE)
def merchants_page(request: Request, session: SessionDep, user: WebUserDep) -> Response:
    admin_only(user)
    return _list_page(request, session, user)


@router.post(PAGE)
def create_merchant(
    request: Request,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    merchant_id: Text = "",
    name_zh: Text = "",
    name_en: Text = "",
) -> Response:
    admin_only(user)
    try:
        m = merchant_admin.save_merchant(
            session,
            merchant_id=merchant_id,
            name_zh=name_zh,
            name_en=name_en,
            now=ctx.clock.now(),
            create=True,
        )
    except AdminRefusedError as exc:
        form = {"merchant_id": merchant_id, "name_zh": name_zh, "name_en": name_en}
        return _list_page(request, session, user, form=form, **refusal(exc, user))
    return RedirectResponse(f"{PAGE}/{m.id}?done=created", status_code=303)


def _merchant(session: SessionDep, merchant_id: str) -> Merchant:
    m = session.get(Merchant, merchant_id)
    if m is None:
        raise HTTPException(404, "merchant")
    return m


def _edit_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    merchant: Merchant,
    *,
    contact: dict[str, str] | None = None,
    names: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    done = request.query_params.get("done", "")
    types = merchant_admin.channel_types()
    data: dict[str, Any] = {
        "merchant": merchant,
        "shown_name": display_name(merchant, user.lang),
        "names": names or {"name_zh": merchant.name_zh or "", "name_en": merchant.name_en or ""},
        "contacts": merchant_admin.contacts_of(session, merchant.id),
        "channels": sorted(types.items()) if types is not None else None,
        "contact": contact or {},
        "error": error,
        "done": done if done in DONE else "",
    }
    return render(request, "admin_merchant.html", data, user=user, status_code=status_code)


@router.get(PAGE + "/{merchant_id}")
def merchant_page(
    request: Request, merchant_id: MerchantId, session: SessionDep, user: WebUserDep
) -> Response:
    admin_only(user)
    return _edit_page(request, session, user, _merchant(session, merchant_id))


@router.post(PAGE + "/{merchant_id}")
def rename_merchant(
    request: Request,
    merchant_id: MerchantId,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    name_zh: Text = "",
    name_en: Text = "",
) -> Response:
    admin_only(user)
    m = _merchant(session, merchant_id)
    try:
        merchant_admin.save_merchant(
            session,
            merchant_id=m.id,
            name_zh=name_zh,
            name_en=name_en,
            now=ctx.clock.now(),
            create=False,
        )
    except AdminRefusedError as exc:
        names = {"name_zh": name_zh, "name_en": name_en}
        return _edit_page(request, session, user, m, names=names, **refusal(exc, user))
    return RedirectResponse(f"{PAGE}/{m.id}?done=saved", status_code=303)


@router.post(PAGE + "/{merchant_id}/contacts")
def add_contact(
    request: Request,
    merchant_id: MerchantId,
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    person: Text = "",
    phone: Text = "",
    channel: Text = "",
    address: Text = "",
    lang: Text = "zh",
) -> Response:
    admin_only(user)
    m = _merchant(session, merchant_id)
    try:
        merchant_admin.add_contact(
            session,
            m,
            person=person,
            phone=phone,
            channel=channel,
            address=address,
            lang=lang,
            now=ctx.clock.now(),
            channel_types=merchant_admin.channel_types(),
        )
    except AdminRefusedError as exc:
        typed = {"person": person, "phone": phone, "channel": channel, "address": address}
        contact = {**typed, "lang": lang}
        return _edit_page(request, session, user, m, contact=contact, **refusal(exc, user))
    return RedirectResponse(f"{PAGE}/{m.id}?done=contact_added", status_code=303)


@router.post(PAGE + "/{merchant_id}/contacts/{contact_id}/delete")
def delete_contact(
    merchant_id: MerchantId,
    contact_id: Annotated[int, Path(ge=1, le=2**62)],
    session: SessionDep,
    user: PostUser,
) -> Response:
    admin_only(user)
    if not merchant_admin.delete_contact(session, merchant_id, contact_id):
        raise HTTPException(404, "contact")
    return RedirectResponse(f"{PAGE}/{merchant_id}?done=contact_deleted", status_code=303)
