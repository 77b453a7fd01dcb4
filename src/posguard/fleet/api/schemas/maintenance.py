"""Maintenance schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ScheduleBase(BaseModel):
    inspection_interval_days: Annotated[int, Field(ge=1, le=3650)]
    firmware_minimum: Annotated[str, Field(min_length=1, max_length=64)]
    note: Annotated[str, Field(max_length=2000)] = ""


class ScheduleCreate(ScheduleBase):
    model: Annotated[str, Field(min_length=1, max_length=64)]


class SchedulePublic(ScheduleBase):
    model_config = ConfigDict(from_attributes=True)

    model: str


class RecordBase(BaseModel):
    terminal_id: Annotated[str, Field(min_length=1, max_length=64)]
    kind: Annotated[str, Field(pattern=r"^[a-z_]{2,32}$")] = "inspection"
    note: Annotated[str, Field(max_length=2000)] = ""


class RecordCreate(RecordBase):
    performed_at: AwareDatetime | None = None


class RecordPublic(RecordBase):
    model_config = ConfigDict(from_attributes=True)

    id: int
    performed_at: datetime
    performed_by: str


class OverduePublic(BaseModel):
    terminal_id: str
    merchant_id: str
    model: str
    last_inspection: date | None
    due: date
    days_overdue: int


class OutdatedPublic(BaseModel):
    terminal_id: str
    merchant_id: str
    model: str
    firmware: str
    firmware_minimum: str
