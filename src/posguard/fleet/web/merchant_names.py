"""A merchant's name in the reader's language: its Chinese or English name when registered
(migration 0014), else the other one, else the name every older reader shows.

>>> from types import SimpleNamespace as M
>>> shop = M(name="沪东便利店", name_zh="沪东便利店", name_en="Hudong Mart")
>>> display_name(shop, "en"), display_name(shop, "zh-CN")
('Hudong Mart', '沪东便利店')
>>> display_name(M(name="M01", name_zh=None, name_en=None), "en")
'M01'
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import func

from posguard.fleet.db.models import Merchant


class Named(Protocol):
    name: str
    name_zh: str | None
    name_en: str | None


def _zh(lang: str) -> bool:
    return lang.lower().startswith("zh")


def display_name(merchant: Named, lang: str) -> str:
    first, second = (
        (merchant.name_zh, merchant.name_en) if _zh(lang) else (merchant.name_en, merchant.name_zh)
    )
    return first or second or merchant.name


def name_column(lang: str) -> Any:
    """The same choice as a SQL expression (for queries that select names)."""
    first, second = (
        (Merchant.name_zh, Merchant.name_en) if _zh(lang) else (Merchant.name_en, Merchant.name_zh)
    )
    return func.coalesce(func.nullif(first, ""), func.nullif(second, ""), Merchant.name)
