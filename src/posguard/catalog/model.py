"""Typed, immutable model of one exception-catalog entry (see docs/architecture.md).

Every text is bilingual (:class:`Text`), every collection a tuple, every model frozen,
and an unknown key anywhere is an error. A step's ``check`` must name a check in
:data:`posguard.catalog.checks.CHECKS`.

>>> s = Step(zh="打开纸仓盖", en="Open the paper cover", check="printer.status")
>>> s.get("en"), s.check
('Open the paper cover', 'printer.status')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import Field, StrictStr, field_validator

from posguard.catalog.checks import CHECKS
from posguard.catalog.text import Frozen, Text, TextValue

__all__ = [
    "CODE_PATTERN",
    "DOMAINS",
    "Audience",
    "Category",
    "Entry",
    "Severity",
    "Step",
    "Symptoms",
    "Text",
]

CODE_PATTERN = r"^[A-Z]{2,6}\.[A-Z0-9_]{2,48}$"
_RC_RE = re.compile(r"^[0-9A-Z]{2}$")

DOMAINS: Mapping[str, str] = MappingProxyType(
    {
        "NET": "network",
        "DEV": "terminal device",
        "SW": "terminal software",
        "TXN": "transaction declines",
        "CARD": "local card checks",
        "PRN": "receipt printer",
        "CFG": "configuration",
        "TP": "third party",
        "REG": "regulation and policy",
        "RECON": "reconciliation",
        "OPS": "operator practice (what staff get wrong)",
    }
)
"""The code prefixes (the part before the dot) a catalog code may use."""


class Category(StrEnum):
    HARDWARE = "hardware"
    SOFTWARE = "software"
    NETWORK = "network"
    CONFIGURATION = "configuration"
    THIRD_PARTY = "third_party"
    REGULATORY = "regulatory"
    CARDHOLDER = "cardholder"
    ISSUER_HOST = "issuer_host"
    OPERATOR = "operator"  # what the shop's staff did: a training matter, not a fault to fix


class Severity(StrEnum):
    INFO = "info"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 (info) .. 3 (critical), for sorting and thresholds."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}


class Audience(StrEnum):
    CARDHOLDER = "cardholder"
    MERCHANT = "merchant"
    OPS = "ops"
    ENGINEER = "engineer"


class Symptoms(Frozen):
    """How people describe the problem, in their own words, per language."""

    zh: tuple[TextValue, ...] = Field(min_length=1, max_length=20)
    en: tuple[TextValue, ...] = Field(min_length=1, max_length=20)


class Step(Frozen):
    """One ordered, checkable step. ``check`` names a registered machine check, if any."""

    zh: TextValue
    en: TextValue
    check: StrictStr | None = None

    @field_validator("check")
    @classmethod
    def _registered(cls, check: str | None) -> str | None:
        if check is not None and check not in CHECKS:
            raise ValueError(f"unknown check {check!r}; registered: {', '.join(sorted(CHECKS))}")
        return check

    def get(self, lang: str) -> str:
        """The step in ``lang`` (``zh...`` is Chinese, anything else English)."""
        return self.zh if lang.lower().startswith("zh") else self.en


class Entry(Frozen):
    """One exception-catalog entry: the shared name of a fault and what to do about it."""

    code: Annotated[StrictStr, Field(pattern=CODE_PATTERN)]
    category: Category
    severity: Severity
    audience: tuple[Audience, ...] = Field(min_length=1)
    iso_response_codes: tuple[str, ...] = ()
    auto: Text
    title: Text
    symptoms: Symptoms
    steps: tuple[Step, ...] = Field(min_length=1, max_length=12)

    @field_validator("code")
    @classmethod
    def _known_domain(cls, code: str) -> str:
        domain = code.split(".", 1)[0]
        if domain not in DOMAINS:
            raise ValueError(f"unknown domain {domain!r}; use one of {', '.join(DOMAINS)}")
        return code

    @field_validator("iso_response_codes", mode="before")
    @classmethod
    def _rc_quoted(cls, codes: Any) -> Any:
        if isinstance(codes, list | tuple):
            for rc in codes:
                if not isinstance(rc, str):
                    raise ValueError(
                        f"response code {rc!r} is not a string; quote it in YAML, e.g. '05'"
                    )
        return codes

    @field_validator("iso_response_codes")
    @classmethod
    def _rc_shape(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        for rc in codes:
            if not _RC_RE.match(rc):
                raise ValueError(f"{rc!r} is not a two-character field-39 response code")
            if rc == "00":
                raise ValueError("'00' means approved; it maps to no fault")
        if len(set(codes)) != len(codes):
            raise ValueError("response codes repeat")
        return codes

    @field_validator("audience")
    @classmethod
    def _audience_unique(cls, audience: tuple[Audience, ...]) -> tuple[Audience, ...]:
        if len(set(audience)) != len(audience):
            raise ValueError("audience repeats")
        return audience

    @property
    def domain(self) -> str:
        """The part before the dot: ``NET`` for ``NET.READ_TIMEOUT``."""
        return self.code.split(".", 1)[0]
