"""What a merchant hands in: the typed record a checklist is checked against.

Personal values (``number`` of an ID or account, ``name``) are held as ``SecretStr`` so
that ``repr``, ``str`` and ``model_dump`` never show them; only the checker reads them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from posguard.merchant.yamlio import load_model


class SubmittedDocument(BaseModel):
    """One document as submitted. ``long_term`` means 长期 (no end date) was ticked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provided: bool = True
    number: SecretStr | None = None
    name: SecretStr | None = None
    expires: date | None = None
    long_term: bool = False
    files: tuple[str, ...] = ()


class Application(BaseModel):
    """An onboarding application: merchant type, industry and the documents by kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    merchant_id: str | None = Field(default=None, max_length=64)
    merchant_type: str
    industry: str = "general"
    documents: dict[str, SubmittedDocument] = Field(default_factory=dict)


def load_application(path: Path) -> Application:
    """Load an application from YAML or JSON; errors name the field, never the value."""
    return load_model(Application, path)
