"""Bilingual user-facing text for the merchant package (the catalog's ``Text``)."""

from __future__ import annotations

from posguard.catalog.model import Text


def t(zh: str, en: str) -> Text:
    """Shorthand for one zh/en pair.

    >>> t("缺少", "missing").get("en")
    'missing'
    """
    return Text(zh=zh, en=en)


__all__ = ["Text", "t"]
