"""Per-user dashboard preferences (the language), in a small table of the dashboard's own.

The fleet's ``users`` table has no language column and belongs to the fleet schema (Alembic),
so the dashboard keeps ``web_user_prefs`` in its own metadata and creates it on first use
(``CREATE TABLE IF NOT EXISTS``); dropping it loses nothing but the remembered languages.
"""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, select
from sqlalchemy.orm import Session

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"

metadata = MetaData()
user_prefs = Table(
    "web_user_prefs",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("lang", String(8), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

_ready: set[int] = set()
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
    key = id(engine)
    if key in _ready:
        return
    with _lock:
        if key not in _ready:
            metadata.create_all(engine, checkfirst=True)
            _ready.add(key)


def get_lang(session: Session, *, username: str) -> str | None:
    """The remembered language (call :func:`ensure_table` once per engine first)."""
    value = session.scalar(select(user_prefs.c.lang).where(user_prefs.c.username == username))
    return normalize_lang(value)


def set_lang(session: Session, *, username: str, lang: str, now: datetime) -> None:
    updated = session.execute(
        user_prefs.update()
        .where(user_prefs.c.username == username)
        .values(lang=lang, updated_at=now)
    )
    if not getattr(updated, "rowcount", 0):
        session.execute(user_prefs.insert().values(username=username, lang=lang, updated_at=now))
