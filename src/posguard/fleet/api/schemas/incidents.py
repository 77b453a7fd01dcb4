"""Incident schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from posguard.fleet.api.schemas.events import EventPublic


class StepPublic(BaseModel):
    zh: str
    en: str
    check: str | None = None


class IncidentBase(BaseModel):
    rule_id: str
    scope: str
    code: str
    severity: str
    status: str
    terminal_id: str | None = None
    merchant_id: str | None = None


class IncidentPublic(IncidentBase):
    id: int
    parent_id: int | None = None
    opened_at: datetime  # the time of the event that opened it
    detected_at: datetime | None = None  # when the diagnoser opened it (None: before 0005)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    time_to_ack_s: float | None = None
    time_to_resolve_s: float | None = None
    title: dict[str, str] | None = None
    audience: list[str] = []
    steps: list[StepPublic] = []
    explanation: dict[str, Any] = {}


class IncidentDetailPublic(IncidentPublic):
    events: list[EventPublic] = []
    children: list[int] = []
