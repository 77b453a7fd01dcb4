"""The merchants' own contacts as the administration page stores them (``merchant_contacts``,
migration 0014), looked up for notification routing in one query per flush: a contact with a
notification channel hears its merchant's incidents (``routing._merchant``) before the notify
config's ``merchants`` section is consulted; a phone-only contact is for people to call."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from posguard.fleet.db.models import MerchantContact


@dataclass(frozen=True, slots=True)
class StoredContact:
    channel: str  # a channel id of the notify config
    address: str  # an e-mail address, or "" for a robot channel
    lang: str  # zh | en


def lookup(conn: Any, merchant_ids: Iterable[str]) -> dict[str, list[StoredContact]]:
    """merchant id -> its contacts that name a channel, in the order they were added."""
    wanted = sorted(set(merchant_ids))
    out: dict[str, list[StoredContact]] = {}
    for i in range(0, len(wanted), 1000):
        rows = conn.execute(
            select(
                MerchantContact.merchant_id,
                MerchantContact.channel,
                MerchantContact.address,
                MerchantContact.lang,
            )
            .where(MerchantContact.merchant_id.in_(wanted[i : i + 1000]))
            .where(MerchantContact.channel != "")
            .order_by(MerchantContact.id)
        )
        for mid, channel, address, lang in rows:
            out.setdefault(mid, []).append(StoredContact(channel, address, lang))
    return out
