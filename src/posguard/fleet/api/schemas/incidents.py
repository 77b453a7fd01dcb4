"""Incident schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from posguard.fleet.api.schemas.events import EventPublic


class StepPublic(BaseModel):
    zh: str
    en: str
    check: str | None = None


class SlaClockPublic(BaseModel):
    target_s: float
    elapsed_s: float
    remaining_s: float
    state: str  # running | met | breached


class SlaPublic(BaseModel):
    """Where the incident stands against its severity's targets (``incident_policy``)."""

    ack: SlaClockPublic
    resolve: SlaClockPublic
    breached: bool


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
    # the workflow: None for a merchant user (who works on it is internal)
    assignee: str | None = None  # user:<name> | team:<id>
    resolution_reason: str | None = None
    resolution_note: str | None = None
    reopen_count: int = 0
    sla: SlaPublic | None = None
    title: dict[str, str] | None = None
    audience: list[str] = []
    steps: list[StepPublic] = []
    explanation: dict[str, Any] = {}


class IncidentDetailPublic(IncidentPublic):
    events: list[EventPublic] = []
    children: list[int] = []


class ResolveRequest(BaseModel):
    reason: str = Field(
        max_length=32,
        description="fixed_on_site, replaced_hardware, host_side_fix, network_provider_fix, "
        "config_corrected, false_alarm, duplicate or other (other needs text)",
    )
    text: str = Field("", max_length=2000)
    force: bool = Field(False, description="resolve although the cause still shows")


class AssignRequest(BaseModel):
    assignee: str = Field(max_length=80, description="user:<name> or team:<id>")


class NoteRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class ReopenRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class AuditEntryPublic(BaseModel):
    """One action on an incident; a merchant sees what and when, not who or from where."""

    id: int
    at: datetime
    action: str
    actor: str | None = None
    origin: str | None = None
    details: dict[str, Any] = {}
