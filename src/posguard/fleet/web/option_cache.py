"""The filters' drop-down values, kept for a short while per merchant scope.

Listing the distinct hosts, areas, merchants, models, brands and firmware versions reads the
whole ``terminals`` table (six index scans at 100,000 terminals); they change when terminals
are registered or updated, not between two page views. A value added since is missing from a
drop-down for at most ``TTL`` — typing it in the URL or search still finds it.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import Terminal
from posguard.fleet.web import queries

TTL = timedelta(seconds=30)
_lock = threading.Lock()
_cache: dict[tuple[str, str, str | None], tuple[datetime, object]] = {}


def _cached(key: tuple[str, str, str | None], now: datetime, ttl: timedelta = TTL) -> object | None:
    with _lock:
        hit = _cache.get(key)
    if hit is not None and timedelta(0) <= now - hit[0] < ttl:
        return hit[1]
    return None


def remember(
    session: Session, kind: str, scope: str | None, now: datetime, ttl: timedelta, compute: Any
) -> Any:
    """``compute()``, or its value from less than ``ttl`` ago for the same database, ``kind``
    and ``scope``."""
    key = (kind, _db(session), scope)
    hit = _cached(key, now, ttl)
    if hit is not None:
        return hit
    value = compute()
    _keep(key, now, value)
    return value


def _keep(key: tuple[str, str, str | None], now: datetime, value: object) -> None:
    with _lock:
        if len(_cache) > 1000:  # many merchants' scopes: start over rather than grow
            _cache.clear()
        _cache[key] = (now, value)


def _db(session: Session) -> str:
    """Which database (one process may serve several in tests)."""
    return str(session.get_bind().engine.url)


def cached_filter_options(
    session: Session, *, merchant_scope: str | None, now: datetime
) -> dict[str, list[str]]:
    key = ("filters", _db(session), merchant_scope)
    hit = _cached(key, now)
    if isinstance(hit, dict):
        return hit
    value = queries.filter_options(session, merchant_scope=merchant_scope)
    _keep(key, now, value)
    return value


def cached_merchant_names(
    session: Session,
    *,
    ids: list[str],
    merchant_scope: str | None,
    now: datetime,
    lang: str = "zh",
) -> dict[str, str]:
    key = (f"merchant_names:{lang[:2]}", _db(session), merchant_scope)
    hit = _cached(key, now)
    if isinstance(hit, dict):
        return hit
    value = queries.merchant_names(session, ids, lang)
    _keep(key, now, value)
    return value


def firmware_options(session: Session, *, merchant_scope: str | None, now: datetime) -> list[str]:
    key = ("firmware", _db(session), merchant_scope)
    hit = _cached(key, now)
    if isinstance(hit, list):
        return hit
    q = select(Terminal.firmware).distinct().order_by(Terminal.firmware).limit(500)
    if merchant_scope is not None:
        q = q.where(Terminal.merchant_id == merchant_scope)
    value = [str(v) for v in session.scalars(q)]
    _keep(key, now, value)
    return value


def forget() -> None:
    """Drop everything (after registering or changing terminals in this process)."""
    with _lock:
        _cache.clear()


def firmware_by_model(
    session: Session, *, merchant_scope: str | None, now: datetime
) -> dict[str, dict[str, int]]:
    """model -> firmware version -> terminals (the version distribution), kept ``TTL``."""

    def compute() -> dict[str, dict[str, int]]:
        q = select(Terminal.model, Terminal.firmware, func.count()).group_by(
            Terminal.model, Terminal.firmware
        )
        if merchant_scope is not None:
            q = q.where(Terminal.merchant_id == merchant_scope)
        out: dict[str, dict[str, int]] = {}
        for model, firmware, n in session.execute(q):
            out.setdefault(str(model), {})[str(firmware)] = int(n)
        return out

    value: dict[str, dict[str, int]] = remember(
        session, "firmware_by_model", merchant_scope, now, TTL, compute
    )
    return value
