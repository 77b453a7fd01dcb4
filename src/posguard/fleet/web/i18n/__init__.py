"""Dashboard strings in zh-CN and en, kept as data: ``messages.yaml`` and one more file per
page family (``messages_console.yaml``: inventory, bulk actions, settings), each key in one
file only.

>>> t = translator("en")
>>> t("nav.overview"), translator("zh-CN")("nav.overview")
('Overview', '总览')
>>> t("kb.step", n=2, of=5)
'Step 2 of 5'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from posguard.common.errors import ConfigError

Translator = Callable[..., str]


@cache
def messages() -> Mapping[str, Mapping[str, str]]:
    """Every key with its ``zh`` and ``en`` text, from ``messages.yaml`` and the pages' own
    ``messages_*.yaml``; refuses a key missing either language, or given twice."""
    out: dict[str, dict[str, str]] = {}
    names = sorted(
        f.name
        for f in files(__package__).iterdir()
        if f.name.startswith("messages") and f.name.endswith(".yaml")
    )
    for name in names:
        raw = yaml.safe_load((files(__package__) / name).read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ConfigError(f"web i18n: {name} must be a mapping")
        for key, texts in raw.items():
            if not isinstance(texts, dict) or not all(
                isinstance(texts.get(lang), str) and texts[lang] for lang in ("zh", "en")
            ):
                raise ConfigError(f"web i18n: {name}: key {key!r} needs non-empty zh and en")
            if str(key) in out:
                raise ConfigError(f"web i18n: {name}: key {key!r} is given twice")
            out[str(key)] = {"zh": texts["zh"], "en": texts["en"]}
    return out


def lang_key(lang: str) -> str:
    """``zh-CN`` → ``zh`` (the catalog's key); anything else → ``en``."""
    return "zh" if lang.lower().startswith("zh") else "en"


def translator(lang: str) -> Translator:
    table = messages()
    key_lang = lang_key(lang)

    def t(key: str, **params: Any) -> str:
        entry = table.get(key)
        if entry is None:
            return key  # visible in the page, and caught by the template test
        text = entry[key_lang]
        return text.format(**params) if params else text

    return t
