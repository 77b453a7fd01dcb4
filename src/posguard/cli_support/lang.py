"""The language of what a command prints: one rule for every face.

``--lang`` wins; otherwise the first of ``POSGUARD_LANG``, ``LC_ALL``, ``LC_MESSAGES``,
``LANG`` that is set decides (``en...`` is English, anything else Chinese); with none set,
Chinese.

>>> resolve_lang("en-US"), resolve_lang("zh_CN.UTF-8"), resolve_lang(None, env={})
('en', 'zh', 'zh')
>>> resolve_lang(None, env={"LC_ALL": "", "LANG": "en_GB.UTF-8"})
'en'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

import typer

LANGS = ("zh", "en")
ENV_ORDER = ("POSGUARD_LANG", "LC_ALL", "LC_MESSAGES", "LANG")


class UnknownLanguageError(ValueError):
    """``--lang`` named a language posguard does not speak."""


def default_lang(env: Mapping[str, str] | None = None) -> str:
    """The language when ``--lang`` is not given: from the environment, else ``zh``."""
    env = os.environ if env is None else env
    for name in ENV_ORDER:
        value = env.get(name, "").strip()
        if value:
            return "en" if value.lower().startswith("en") else "zh"
    return "zh"


def resolve_lang(value: str | None, *, env: Mapping[str, str] | None = None) -> str:
    """``zh`` or ``en`` from a ``--lang`` value (``zh``, ``zh-CN``, ``en_US``...) or the
    default; an unknown language raises :class:`UnknownLanguageError`."""
    if value is None or not value.strip():
        return default_lang(env)
    short = value.strip().lower().replace("_", "-").split("-")[0]
    if short not in LANGS:
        raise UnknownLanguageError(value)
    return short


LangOption = Annotated[
    str | None,
    typer.Option(
        "--lang",
        help="zh or en (default: from POSGUARD_LANG / LANG, else zh) / 语言：zh 或 en",
        show_default=False,
    ),
]
"""The ``--lang`` option every command of a face takes."""
