"""Per-user dashboard state (the language, and when the user last logged out), in a small table
of the dashboard's own.

The fleet's ``users`` table has no language column and belongs to the fleet schema (Alembic),
so the dashboard keeps ``web_user_prefs`` in its own metadata and creates it on first use
(``CREATE TABLE IF NOT EXISTS``); dropping it loses the remembered languages and lets sessions
from before the last logout live on until they expire (8 h).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, DateTime, Engine, Float, MetaData, String, Table, select
from sqlalchemy.orm import Session

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"

metadata = MetaData()
user_prefs = Table(
    "web_user_prefs",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("lang", String(8), nullable=True),
    # sessions issued at or before this time (UNIX seconds) are dead: the user logged out
    Column("logout_at", Float, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Engines whose table is known to exist. Held weakly, by the engine itself: a set of id()s
# outlived the engines, and a new engine reusing a dead one's id skipped CREATE TABLE.
_ready: weakref.WeakSet[Engine] = weakref.WeakSet()
_lock = threading.Lock()


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


def ensure_table(engine: Engine) -> None:
    if engine in _ready:
        return
    with _lock:
        if engine not in _ready:
            metadata.create_all(engine, checkfirst=True)
            _ready.add(engine)


@dataclass(frozen=True, slots=True)
class UserPrefs:
    lang: str | None
    logout_at: float | None


def get_prefs(session: Session, *, username: str) -> UserPrefs:
    """The user's row (call :func:`ensure_table` once per engine first)."""
    row = session.execute(
        select(user_prefs.c.lang, user_prefs.c.logout_at).where(user_prefs.c.username == username)
    ).first()
    if row is None:
        return UserPrefs(None, None)
    return UserPrefs(normalize_lang(row.lang), row.logout_at)


def _upsert(session: Session, username: str, now: datetime, **values: object) -> None:
    updated = session.execute(
        user_prefs.update()
        .where(user_prefs.c.username == username)
        .values(updated_at=now, **values)
    )
    if not getattr(updated, "rowcount", 0):
        session.execute(user_prefs.insert().values(username=username, updated_at=now, **values))


def set_lang(session: Session, *, username: str, lang: str, now: datetime) -> None:
    _upsert(session, username, now, lang=lang)


def end_sessions(session: Session, *, username: str, now: datetime) -> None:
    """Every session of this user issued until now stops working (logout)."""
    _upsert(session, username, now, logout_at=now.timestamp())
