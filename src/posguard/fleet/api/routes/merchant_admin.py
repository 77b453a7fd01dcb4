"""Merchants' names in both languages and their notification contacts over the API (admin
only), with the rules of the administration page (``fleet.merchant_admin``); a refusal is
the page's one line, in English."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from posguard.fleet import merchant_admin
from posguard.fleet.admin_errors import AdminRefusedError
from posguard.fleet.api.deps import AdminUser, Ctx, SessionDep
from posguard.fleet.db.models import Merchant

router = APIRouter(prefix="/api/v1/merchants", tags=["merchants"])

MerchantId = Annotated[str, Path(max_length=64)]


class MerchantNames(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_zh: Annotated[str, Field(max_length=400)] = ""
    name_en: Annotated[str, Field(max_length=400)] = ""


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person: Annotated[str, Field(max_length=400)] = ""
    phone: Annotated[str, Field(max_length=400)] = ""
    channel: Annotated[str, Field(max_length=400)] = ""
    address: Annotated[str, Field(max_length=400)] = ""
    lang: Annotated[str, Field(max_length=8)] = "zh"


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    person: str
    phone: str
    channel: str
    address: str
    lang: str
    created_at: datetime


class MerchantDetail(BaseModel):
    id: str
    name: str
    name_zh: str | None
    name_en: str | None
    contacts: list[ContactOut]


def _refused(exc: AdminRefusedError) -> HTTPException:
    return HTTPException(exc.status, exc.en)


def _detail(session: SessionDep, m: Merchant) -> MerchantDetail:
    contacts = [ContactOut.model_validate(c) for c in merchant_admin.contacts_of(session, m.id)]
    return MerchantDetail(
        id=m.id, name=m.name, name_zh=m.name_zh, name_en=m.name_en, contacts=contacts
    )


def _merchant(session: SessionDep, merchant_id: str) -> Merchant:
    m = session.get(Merchant, merchant_id)
    if m is None:
        raise HTTPException(404, f"no merchant {merchant_id}")
    return m


@router.get("/{merchant_id}", responses={404: {"description": "no such merchant"}})
def get_merchant(merchant_id: MerchantId, _: AdminUser, session: SessionDep) -> MerchantDetail:
    return _detail(session, _merchant(session, merchant_id))


@router.put(
    "/{merchant_id}",
    responses={201: {"description": "created"}, 422: {"description": "refused (why)"}},
)
def put_names(
    merchant_id: MerchantId,
    body: MerchantNames,
    _: AdminUser,
    ctx: Ctx,
    session: SessionDep,
    response: Response,
) -> MerchantDetail:
    """Create the merchant with these names (201) or rename it (200)."""
    create = session.get(Merchant, merchant_id) is None
    try:
        m = merchant_admin.save_merchant(
            session,
            merchant_id=merchant_id,
            name_zh=body.name_zh,
            name_en=body.name_en,
            now=ctx.clock.now(),
            create=create,
        )
    except AdminRefusedError as exc:
        raise _refused(exc) from None
    if create:
        response.status_code = status.HTTP_201_CREATED
    return _detail(session, m)


@router.post(
    "/{merchant_id}/contacts",
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "no such merchant"}, 422: {"description": "refused"}},
)
def add_contact(
    merchant_id: MerchantId, body: ContactIn, _: AdminUser, ctx: Ctx, session: SessionDep
) -> ContactOut:
    m = _merchant(session, merchant_id)
    try:
        row = merchant_admin.add_contact(
            session,
            m,
            person=body.person,
            phone=body.phone,
            channel=body.channel,
            address=body.address,
            lang=body.lang,
            now=ctx.clock.now(),
            channel_types=merchant_admin.channel_types(),
        )
    except AdminRefusedError as exc:
        raise _refused(exc) from None
    return ContactOut.model_validate(row)


@router.delete(
    "/{merchant_id}/contacts/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "no such contact"}},
)
def delete_contact(
    merchant_id: MerchantId,
    contact_id: Annotated[int, Path(ge=1, le=2**62)],
    _: AdminUser,
    session: SessionDep,
) -> Response:
    if not merchant_admin.delete_contact(session, merchant_id, contact_id):
        raise HTTPException(404, "no such contact")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
