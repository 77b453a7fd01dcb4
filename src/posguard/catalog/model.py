"""Typed, immutable model of one exception-catalog entry (see docs/architecture.md)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

CODE_PATTERN = r"^[A-Z]{2,6}\.[A-Z0-9_]{2,48}$"
_RC_RE = re.compile(r"^[0-9A-Z]{2}$")


class Category(StrEnum):
    HARDWARE = "hardware"
    SOFTWARE = "software"
    NETWORK = "network"
    CONFIGURATION = "configuration"
    THIRD_PARTY = "third_party"
    REGULATORY = "regulatory"
    CARDHOLDER = "cardholder"
    ISSUER_HOST = "issuer_host"


class Severity(StrEnum):
    INFO = "info"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}


class Audience(StrEnum):
    CARDHOLDER = "cardholder"
    MERCHANT = "merchant"
    OPS = "ops"
    ENGINEER = "engineer"


_Text = Annotated[str, Field(min_length=1, max_length=2000)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Text(_Frozen):
    """One user-facing text in Chinese (zh-CN) and English."""

    zh: _Text
    en: _Text

    def get(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


class Symptoms(_Frozen):
    """How people describe the problem, in their own words, per language."""

    zh: tuple[_Text, ...] = Field(min_length=1)
    en: tuple[_Text, ...] = Field(min_length=1)


class Step(_Frozen):
    """One ordered, checkable step. ``check`` names a registered machine check, if any."""

    zh: _Text
    en: _Text
    check: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]{1,63}$")] | None = None

    def get(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


class Entry(_Frozen):
    """One exception-catalog entry: the shared name of a fault and what to do about it."""

    code: Annotated[str, Field(pattern=CODE_PATTERN)]
    category: Category
    severity: Severity
    audience: tuple[Audience, ...] = Field(min_length=1)
    iso_response_codes: tuple[str, ...] = ()
    auto: _Text
    title: Text
    symptoms: Symptoms
    steps: tuple[Step, ...] = Field(min_length=1)

    @field_validator("iso_response_codes")
    @classmethod
    def _rc_shape(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        for rc in codes:
            if not _RC_RE.match(rc):
                raise ValueError(f"{rc!r} is not a two-character field-39 response code")
        if len(set(codes)) != len(codes):
            raise ValueError("response codes repeat")
        return codes

    @property
    def domain(self) -> str:
        """The part before the dot: ``NET`` for ``NET.READ_TIMEOUT``."""
        return self.code.split(".", 1)[0]
