"""Merchants as the administration page keeps them: a name in Chinese and in English, and the
contacts notifications go to (a channel of the notify config and the address on it, in the
contact's language) or people call (a phone number). Every refusal is an
:class:`~posguard.fleet.admin_errors.AdminRefusedError`: one line in zh and en, nothing written.

``name`` (what older readers show) follows the Chinese name, else the English one.

>>> check_phone("+86 21-5555 0101"), check_email("Ops@Shop.example")
('+86 21-5555 0101', 'Ops@Shop.example')
>>> try:
...     check_phone("call me")
... except AdminRefusedError as exc:
...     exc.zh
'电话：只能用数字、空格和 -，可以 + 开头（5-32 位）'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.common.errors import ConfigError
from posguard.fleet.admin_errors import AdminRefusedError
from posguard.fleet.db.models import Merchant, MerchantContact

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 -]{3,30}[0-9]$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
CHANNEL_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_CONTACTS = 20


def channel_types() -> dict[str, str] | None:
    """The notify config's channel id -> type; None when no config is set or it is broken
    (then any well-formed channel id is taken)."""
    from posguard.fleet.notify.settings import get_notify_settings

    path = get_notify_settings().config
    if path is None:
        return None
    from posguard.fleet.notify.config import load_config

    try:
        cfg = load_config(path)
    except ConfigError:
        return None
    return {cid: ch.type for cid, ch in cfg.channels.items()}


def check_phone(phone: str) -> str:
    if not PHONE_RE.match(phone):
        raise AdminRefusedError(
            "phone: digits, spaces and '-', with an optional leading '+' (5-32 characters)",
            "电话：只能用数字、空格和 -，可以 + 开头（5-32 位）",
        )
    return phone


def check_email(address: str) -> str:
    if len(address) > 320 or not EMAIL_RE.match(address):
        raise AdminRefusedError(
            f"e-mail address {address[:60]!r} is not valid",
            f"邮箱地址 {address[:60]!r} 格式不对",
        )
    return address


def _name(value: str, en_label: str, zh_label: str) -> str | None:
    value = " ".join(value.split())
    if len(value) > 200:
        raise AdminRefusedError(
            f"{en_label}: at most 200 characters", f"{zh_label}：不能超过 200 个字符"
        )
    return value or None


def save_merchant(
    session: Session,
    *,
    merchant_id: str,
    name_zh: str,
    name_en: str,
    now: datetime,
    create: bool,
) -> Merchant:
    """Create (``create``: a known id is refused) or rename a merchant."""
    merchant_id = merchant_id.strip()
    if not ID_RE.match(merchant_id):
        raise AdminRefusedError(
            "merchant id: 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter "
            "or digit",
            "商户号：只能用 1-64 位字母、数字或 . _ : -，以字母或数字开头",
        )
    zh = _name(name_zh, "Chinese name", "中文名称")
    en = _name(name_en, "English name", "英文名称")
    if zh is None and en is None:
        raise AdminRefusedError(
            "give the merchant's name in Chinese or English (or both)", "请填写商户的中文或英文名称"
        )
    merchant = session.get(Merchant, merchant_id)
    if create and merchant is not None:
        raise AdminRefusedError(
            f"merchant {merchant_id} already exists: edit it instead",
            f"商户 {merchant_id} 已存在：请直接编辑",
            status=409,
        )
    if merchant is None:
        if not create:
            raise AdminRefusedError(
                f"no merchant {merchant_id}", f"没有商户 {merchant_id}", status=404
            )
        merchant = Merchant(id=merchant_id, name="", created_at=now)
        session.add(merchant)
    merchant.name_zh, merchant.name_en = zh, en
    merchant.name = zh or en or merchant_id
    session.flush()
    return merchant


def add_contact(
    session: Session,
    merchant: Merchant,
    *,
    person: str,
    phone: str,
    channel: str,
    address: str,
    lang: str,
    now: datetime,
    channel_types: Mapping[str, str] | None,
) -> MerchantContact:
    """A contact of ``merchant``. ``channel_types``: the notify config's channel id -> type
    (None: no config to check against). An e-mail channel needs an address; a robot or
    webhook channel posts to its group and takes none."""
    person, phone = " ".join(person.split()), phone.strip()
    channel, address = channel.strip(), address.strip()
    if len(person) > 100:
        raise AdminRefusedError("name: at most 100 characters", "联系人：不能超过 100 个字符")
    if lang not in ("zh", "en"):
        raise AdminRefusedError("language: zh or en", "语言：只能是中文或英文")
    if phone:
        check_phone(phone)
    if address and not channel:
        raise AdminRefusedError(
            "an address needs a notification channel", "填写了地址，但没有选择通知渠道"
        )
    if not channel and not phone:
        raise AdminRefusedError(
            "give a notification channel, a phone number, or both", "请填写通知渠道或电话（或两者）"
        )
    if channel:
        kind = _channel_kind(channel, channel_types)
        if kind == "email" or (kind is None and address):
            if not address:
                raise AdminRefusedError(
                    f"channel {channel} sends e-mail: give the address",
                    f"渠道 {channel} 发送邮件：请填写邮箱地址",
                )
            check_email(address)
        elif address:
            raise AdminRefusedError(
                f"channel {channel} ({kind}) posts to its group: leave the address empty",
                f"渠道 {channel}（{kind}）发到群里：地址请留空",
            )
    if len(contacts_of(session, merchant.id)) >= MAX_CONTACTS:
        raise AdminRefusedError(
            f"a merchant has at most {MAX_CONTACTS} contacts",
            f"每个商户最多 {MAX_CONTACTS} 个联系人",
            status=409,
        )
    row = MerchantContact(
        merchant_id=merchant.id,
        person=person,
        phone=phone,
        channel=channel,
        address=address,
        lang=lang,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _channel_kind(channel: str, channel_types: Mapping[str, str] | None) -> str | None:
    if channel_types is None:
        if not CHANNEL_RE.match(channel):
            raise AdminRefusedError(
                f"channel {channel[:64]!r} is not a channel id", f"渠道 {channel[:64]!r} 不是渠道名"
            )
        return None
    if channel not in channel_types:
        known = ", ".join(sorted(channel_types)) or "-"
        raise AdminRefusedError(
            f"channel {channel[:64]!r} is not in the notification config (has: {known})",
            f"通知配置中没有渠道 {channel[:64]!r}（现有：{known}）",
        )
    return channel_types[channel]


def contacts_of(session: Session, merchant_id: str) -> Sequence[MerchantContact]:
    return session.scalars(
        select(MerchantContact)
        .where(MerchantContact.merchant_id == merchant_id)
        .order_by(MerchantContact.id)
    ).all()


def delete_contact(session: Session, merchant_id: str, contact_id: int) -> bool:
    row = session.get(MerchantContact, contact_id)
    if row is None or row.merchant_id != merchant_id:
        return False
    session.delete(row)
    session.flush()
    return True
