"""Merchants: create or rename, list with a search (the dashboard's filter and the CLI)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import Merchant, Terminal
from posguard.fleet.repo.terminals import get_or_create_merchant


@dataclass(frozen=True, slots=True)
class MerchantSummary:
    id: str
    name: str
    terminals: int


def upsert_merchant(session: Session, *, merchant_id: str, name: str, now: datetime) -> str:
    """Create the merchant or rename it; returns ``created``, ``updated`` or ``unchanged``."""
    if not merchant_id or len(merchant_id) > 64:
        raise ValueError(f"merchant id {merchant_id!r} must be 1-64 characters")
    if len(name) > 200:
        raise ValueError("merchant name is longer than 200 characters")
    existing = session.get(Merchant, merchant_id)
    if existing is None:
        get_or_create_merchant(session, merchant_id=merchant_id, name=name, now=now)
        return "created"
    if name and existing.name != name:
        existing.name = name
        session.flush()
        return "updated"
    return "unchanged"


def list_merchants(
    session: Session, *, search: str | None = None, limit: int = 100, offset: int = 0
) -> Sequence[MerchantSummary]:
    """Merchants by id, each with its number of terminals; ``search`` matches a part of the id
    or the name, ignoring case."""
    counts = (
        select(Terminal.merchant_id, func.count().label("n"))
        .group_by(Terminal.merchant_id)
        .subquery()
    )
    q = (
        select(Merchant.id, Merchant.name, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.merchant_id == Merchant.id)
        .order_by(Merchant.id)
    )
    if search:
        pattern = (
            "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        q = q.where(
            or_(
                func.lower(Merchant.id).like(pattern, escape="\\"),
                func.lower(Merchant.name).like(pattern, escape="\\"),
            )
        )
    rows = session.execute(q.limit(limit).offset(offset))
    return [MerchantSummary(i, n, int(c)) for i, n, c in rows]
