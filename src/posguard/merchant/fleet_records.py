"""Plain records of a fleet's terminals and incidents, as the merchant checks read them.

This is the input of :mod:`posguard.merchant.brands` and :mod:`posguard.merchant.regulation`:
a JSON/YAML file ``{terminals: [...], incidents: [...]}`` exported from the fleet service
(or written by hand), so the checks do not depend on the fleet's storage.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from posguard.merchant.yamlio import load_model


class Resolution(StrEnum):
    REMOTE = "remote"  # fixed from afar: remote command, phone guidance, parameter push
    ON_SITE = "on_site"  # an engineer went there, or the terminal was swapped


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FleetTerminal(_Frozen):
    terminal_id: str = Field(min_length=1, max_length=64)
    merchant_id: str | None = None
    brand: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=64)
    installed_on: date
    warranty_end: date | None = None


class FleetIncident(_Frozen):
    incident_id: str = Field(min_length=1, max_length=64)
    terminal_id: str
    code: str | None = None
    opened_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution: Resolution | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.acknowledged_at is not None and self.acknowledged_at < self.opened_at:
            raise ValueError("acknowledged_at is before opened_at")
        if self.resolved_at is not None and self.resolved_at < self.opened_at:
            raise ValueError("resolved_at is before opened_at")
        if (self.resolved_at is None) != (self.resolution is None):
            raise ValueError("resolved_at and resolution go together")
        return self


class FleetRecords(_Frozen):
    terminals: tuple[FleetTerminal, ...]
    incidents: tuple[FleetIncident, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids: set[str] = set()
        for i, term in enumerate(self.terminals):
            if term.terminal_id in ids:
                raise ValueError(f"terminals[{i}]: terminal {term.terminal_id} listed twice")
            ids.add(term.terminal_id)
        aware: set[bool] = set()
        for i, inc in enumerate(self.incidents):
            if inc.terminal_id not in ids:
                raise ValueError(f"incidents[{i}]: unknown terminal {inc.terminal_id}")
            stamps = (inc.opened_at, inc.acknowledged_at, inc.resolved_at)
            aware.update(s.tzinfo is not None for s in stamps if s is not None)
        if len(aware) > 1:
            raise ValueError("incident times mix zoned and unzoned timestamps; use one form")
        return self


def load_fleet_records(path: Path) -> FleetRecords:
    return load_model(FleetRecords, path)
