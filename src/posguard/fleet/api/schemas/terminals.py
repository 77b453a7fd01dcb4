"""Terminal schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Ident = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Label = Annotated[str, Field(min_length=1, max_length=64)]


class TerminalBase(BaseModel):
    merchant_id: Ident
    model: Label
    brand: Label
    firmware: Label
    acquirer_host: Annotated[str, Field(min_length=1, max_length=128)]
    area: Annotated[str, Field(min_length=1, max_length=128)]
    location: Annotated[str, Field(max_length=200)] = ""
    install_date: date | None = None
    warranty_end: date | None = None


class TerminalCreate(TerminalBase):
    id: Ident
    merchant_name: Annotated[str, Field(max_length=200)] = ""


class TerminalPublic(TerminalBase):
    model_config = ConfigDict(from_attributes=True)

    id: str
    revoked: bool
    created_at: datetime


class TerminalCredentialPublic(BaseModel):
    terminal: TerminalPublic
    credential: str = Field(
        description="The bearer credential; shown once, store it on the terminal."
    )
