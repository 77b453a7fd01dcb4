"""Bulk-action schemas: one command to a selection of terminals (the dashboard's bulk actions)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from posguard.common.commands import RemoteCommand

FilterValue = Annotated[str, Field(min_length=1, max_length=128)]


class BulkSelection(BaseModel):
    """Exactly one of: terminal ids, an incident (its affected terminals), or a filter with the
    inventory's keys (``q``, ``status``, ``host``, ``area``, ``merchant``, ``model``, ``brand``,
    ``firmware``)."""

    model_config = ConfigDict(extra="forbid")

    terminals: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=10_000)] = []
    incident: Annotated[int, Field(ge=1, le=2**53)] | None = None
    filter: dict[
        Annotated[str, Field(pattern="^(q|status|host|area|merchant|model|brand|firmware)$")],
        FilterValue,
    ] = {}

    @model_validator(mode="after")
    def one_kind(self) -> BulkSelection:
        chosen = sum((bool(self.terminals), self.incident is not None, bool(self.filter)))
        if chosen != 1:
            raise ValueError("give exactly one of terminals, incident or filter")
        return self

    def pairs(self) -> list[tuple[str, str]]:
        if self.incident is not None:
            return [("incident", str(self.incident))]
        if self.terminals:
            return [("terminal", t) for t in self.terminals]
        return list(self.filter.items())


TerminalId = Annotated[str, Field(min_length=1, max_length=64)]


class BulkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: RemoteCommand
    selection: BulkSelection
    # staged: this share of the terminals first, the rest on POST .../release
    first_pct: Annotated[float, Field(gt=0, le=100)] | None = None
    # staged: these terminals first (each must be one the action is sent to), the rest later
    first_terminals: Annotated[list[TerminalId], Field(max_length=1000)] = []
    # pause by itself when a stage's answered commands fail more often than this (0..1)
    max_failure: Annotated[float, Field(ge=0, le=1)] | None = None
    # ``update`` only: the firmware package (GET /api/v1/packages) by its SHA-256
    package: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    # ``update_config`` only: the parameters to push (dotted keys, ``fleet.config_params``)
    params: Annotated[dict[str, Any], Field(max_length=32)] | None = None

    @model_validator(mode="after")
    def args_with_their_command(self) -> BulkCreate:
        if (self.name is RemoteCommand.UPDATE) != (self.package is not None):
            raise ValueError("package: give it with update, and only with update")
        if (self.name is RemoteCommand.UPDATE_CONFIG) != (self.params is not None):
            raise ValueError("params: give them with update_config, and only with it")
        if self.first_pct is not None and self.first_terminals:
            raise ValueError("first stage: give first_pct or first_terminals, not both")
        return self


class ConfigDiffRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    selection: BulkSelection
    params: Annotated[dict[str, Any], Field(max_length=32)]


class ConfigChangePublic(BaseModel):
    key: str
    old: Any = None  # as the terminal reported it
    new: Any = None


class TerminalDiffPublic(BaseModel):
    terminal_id: str
    changes: list[ConfigChangePublic] | None  # None: the terminal never reported its config


class ConfigDiffPublic(BaseModel):
    params: dict[str, Any]  # as they will be sent (typed)
    changing: int
    unchanged: int
    unknown: int
    skipped: list[str]  # cannot run update_config: nothing sent to them
    terminals: list[TerminalDiffPublic]  # changing first (at most 500)


class BulkStagePublic(BaseModel):
    size: int
    released: bool
    answered: int
    failed: int
    failure_rate: float | None


class BulkCommandPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    terminal_id: str
    status: str
    result: dict[str, object] | None = None
    completed_at: datetime | None = None


class BulkPublic(BaseModel):
    id: int
    name: str
    args: dict[str, Any] = {}  # an update's version, sha256 and size
    created_by: str
    created_at: datetime
    incident_id: int | None
    state: str  # running | paused | stopped | done
    stages: list[BulkStagePublic]
    sent: int
    skipped: list[str]  # terminals that cannot run the command: nothing sent to them
    counts: dict[str, int]  # command status -> terminals
    commands: list[BulkCommandPublic]  # the newest answers first (at most 500)
