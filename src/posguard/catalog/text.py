"""Bilingual user-facing text: the one shape every catalog and check text takes.

>>> t = Text(zh="打印机缺纸", en="Printer out of paper")
>>> t.get("zh-CN"), t.get("en")
('打印机缺纸', 'Printer out of paper')
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr

LANGS = ("zh", "en")
"""The languages every user-facing text must have; zh means zh-CN."""


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if value != value.strip():
        raise ValueError("must not start or end with spaces")
    return value


TextValue = Annotated[StrictStr, Field(min_length=1, max_length=2000), AfterValidator(_not_blank)]
"""One non-blank string of user-facing text (a YAML number or boolean is refused)."""


class Frozen(BaseModel):
    """Base of every catalog model: immutable, and unknown keys are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Text(Frozen):
    """One user-facing text in Chinese (zh-CN) and English."""

    zh: TextValue
    en: TextValue

    def get(self, lang: str) -> str:
        """The text in ``lang`` (anything starting with ``zh`` is Chinese, the rest English)."""
        return self.zh if lang.lower().startswith("zh") else self.en
