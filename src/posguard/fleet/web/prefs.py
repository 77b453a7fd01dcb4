"""Per-user dashboard state (the language, the time zone, and when the user last logged out), in
the fleet schema's ``user_prefs`` table (``posguard.fleet.db.models.UserPref``, migrations 0002
and 0010).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from posguard.fleet.db.models import UserPref

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"


def normalize_lang(value: str | None) -> str | None:
    """``zh``, ``zh-CN``, ``zh_cn`` → ``zh-CN``; ``en``, ``en-US`` → ``en``; else None.

    >>> normalize_lang("zh_cn"), normalize_lang("en-GB"), normalize_lang("fr")
    ('zh-CN', 'en', None)
    """
    if not value:
        return None
    v = value.strip().lower().replace("_", "-")
    if v.startswith("zh"):
        return "zh-CN"
    if v.startswith("en"):
        return "en"
    return None


@dataclass(frozen=True, slots=True)
class UserPrefs:
    lang: str | None
    logout_at: float | None
    time_zone: str | None = None


def get_prefs(session: Session, *, username: str) -> UserPrefs:
    """The user's saved language and logout time (both None when never saved)."""
    row = session.execute(
        select(UserPref.lang, UserPref.logout_at, UserPref.time_zone).where(
            UserPref.username == username
        )
    ).first()
    if row is None:
        return UserPrefs(None, None)
    return UserPrefs(normalize_lang(row.lang), row.logout_at, row.time_zone)


def _upsert(session: Session, username: str, now: datetime, **values: object) -> None:
    updated = session.execute(
        update(UserPref).where(UserPref.username == username).values(updated_at=now, **values)
    )
    if not getattr(updated, "rowcount", 0):
        session.execute(insert(UserPref).values(username=username, updated_at=now, **values))


def set_lang(session: Session, *, username: str, lang: str, now: datetime) -> None:
    _upsert(session, username, now, lang=lang)


def set_time_zone(session: Session, *, username: str, zone: str | None, now: datetime) -> None:
    """The IANA zone the user reads times in (None: the language's default)."""
    _upsert(session, username, now, time_zone=zone)


def end_sessions(session: Session, *, username: str, now: datetime) -> None:
    """Every session of this user issued until now stops working (logout)."""
    _upsert(session, username, now, logout_at=now.timestamp())
