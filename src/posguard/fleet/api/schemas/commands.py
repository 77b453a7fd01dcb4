"""Remote-command schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from posguard.common.commands import RemoteCommand as CommandName


class CommandBase(BaseModel):
    name: CommandName
    args: dict[str, Any] = Field(default_factory=dict)


class CommandCreate(CommandBase):
    pass


class CommandPublic(CommandBase):
    model_config = ConfigDict(from_attributes=True)

    id: str
    terminal_id: str
    status: str
    issued_at: datetime
    detected_at: datetime | None = None  # a rule's command: when the diagnoser issued it
    issued_by: str
    incident_id: int | None = None
    sent_at: datetime | None = None
    completed_at: datetime | None = None
    result: dict[str, Any] | None = None
    expires_at: datetime | None = None


class CommandMessage(BaseModel):
    """What a terminal receives (MQTT payload or HTTP pickup)."""

    command_id: str
    name: str
    args: dict[str, Any]
    issued_at: datetime
    expires_at: datetime | None = None
