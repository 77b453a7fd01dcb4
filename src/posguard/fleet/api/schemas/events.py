"""Event schemas (ingest results and stored events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from posguard.fleet.ingest.store import Outcome


class EventBase(BaseModel):
    terminal_id: str
    merchant_id: str
    seq: int
    ts: datetime
    kind: str
    code: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class EventPublic(EventBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    received_at: datetime


class IngestResultPublic(BaseModel):
    index: int
    outcome: Outcome
    terminal_id: str | None = None
    seq: int | None = None
    reason: str | None = None


class BatchCreate(BaseModel):
    events: list[Any] = Field(description="Telemetry events (see posguard.common.events).")


class BatchResultPublic(BaseModel):
    stored: int
    duplicate: int
    rejected: int
    results: list[IngestResultPublic]
    confirmed: list[tuple[int, int]] = Field(
        description="Inclusive [first, last] seq ranges the fleet holds (stored or duplicate): "
        "the terminal may forget these events; a rejected one is not confirmed."
    )
