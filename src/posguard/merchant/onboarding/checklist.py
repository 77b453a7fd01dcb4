"""The onboarding checklist as data: documents, merchant types and industries.

>>> cl = default_checklist()
>>> [d.kind for d in cl.required("individual", "food")][:3]
['business_licence', 'tax_registration', 'legal_person_id']
>>> cl.documents["permit_food"].title.zh
'食品经营许可证'
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

from posguard.merchant.errors import MerchantDataError
from posguard.merchant.text import Text
from posguard.merchant.yamlio import load_model

DATA_FILE = Path(str(files("posguard.merchant") / "data" / "onboarding.yaml"))


class Identifier(StrEnum):
    USCC = "uscc"
    RESIDENT_ID = "resident_id"
    BANK_ACCOUNT = "bank_account"


class ExpiryRule(StrEnum):
    NONE = "none"  # the document has no validity period
    REQUIRED = "required"  # a date must be given
    REQUIRED_OR_LONG_TERM = "required_or_long_term"  # a date, or 长期 (long-term)
    OPTIONAL_OR_LONG_TERM = "optional_or_long_term"


class Condition(StrEnum):
    LICENCE_WITHOUT_USCC = "licence_without_uscc"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DocumentSpec(_Frozen):
    kind: str = ""
    title: Text
    hint: Text
    identifier: Identifier | None = None
    number_pattern: str | None = None
    number_hint: Text | None = None
    personal: bool = False
    files_required: bool = False  # a photo: the document is its file
    expiry: ExpiryRule = ExpiryRule.NONE
    required_when: Condition | None = None


class MerchantType(_Frozen):
    title: Text
    uscc_prefix: str
    documents: tuple[str, ...]


class Industry(_Frozen):
    title: Text
    documents: tuple[str, ...]


class Checklist(_Frozen):
    documents: dict[str, DocumentSpec]
    merchant_types: dict[str, MerchantType]
    industries: dict[str, Industry]

    @model_validator(mode="after")
    def _links(self) -> Self:
        for kind, spec in self.documents.items():
            object.__setattr__(spec, "kind", kind)
        groups: list[tuple[str, tuple[str, ...]]] = [
            *((n, g.documents) for n, g in self.merchant_types.items()),
            *((n, g.documents) for n, g in self.industries.items()),
        ]
        for name, docs in groups:
            for doc in docs:
                if doc not in self.documents:
                    raise ValueError(f"{name} lists unknown document {doc!r}")
        return self

    def required(self, merchant_type: str, industry: str = "general") -> list[DocumentSpec]:
        """Every document this merchant type in this industry may need, in order."""
        if merchant_type not in self.merchant_types:
            raise MerchantDataError(
                f"unknown merchant type {merchant_type!r}; known: {sorted(self.merchant_types)}",
                field="merchant_type",
            )
        if industry not in self.industries:
            raise MerchantDataError(
                f"unknown industry {industry!r}; known: {sorted(self.industries)}", field="industry"
            )
        kinds = [
            *self.merchant_types[merchant_type].documents,
            *self.industries[industry].documents,
        ]
        return [self.documents[k] for k in kinds]


@cache
def default_checklist() -> Checklist:
    return load_checklist(DATA_FILE)


def load_checklist(path: Path) -> Checklist:
    return load_model(Checklist, path)
