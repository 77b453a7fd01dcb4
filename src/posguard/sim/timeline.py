"""Fault timelines as data: what goes wrong, where, when and for how long.

A timeline file (YAML) drives both the full demo (the fault proxy, the host's issuer
table, the virtual printers) and the light fleet model. Each fault kind names the
catalog code it produces, so nothing invents a fault name.

>>> tl = parse_timeline({"name": "t", "duration": 30, "events": [
...     {"at": 5, "fault": "host_outage", "target": {"host": "cup-sh"}, "for": 10}]})
>>> [(e.fault.value, e.at, e.until) for e in tl.events]
[('host_outage', 5.0, 15.0)]
>>> tl.active_at(7)[0].fault.code
'NET.CONNECT_TIMEOUT'
"""

from __future__ import annotations

from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from posguard.common.errors import ConfigError


class FaultKind(StrEnum):
    HOST_OUTAGE = "host_outage"  # an acquirer host stops answering (black hole)
    FIREWALL_CHANGE = "firewall_change"  # one area's outbound traffic to the host is dropped
    CONNECTION_REFUSED = "connection_refused"  # host port closed (wrong port / host down)
    RESPONSE_DROP = "response_drop"  # answers lost after the host acted: reversals needed
    PAPER_OUT = "paper_out"  # printers run out of paper
    PRINTER_COVER_OPEN = "printer_cover_open"
    BAD_FIRMWARE = "bad_firmware"  # a firmware rollout that fails its health check
    ISSUER_OUTAGE = "issuer_outage"  # an issuer (BIN range) stops answering
    FEE_RATE_CHANGE = "fee_rate_change"  # an acquirer raises a merchant's rate without notice

    @property
    def code(self) -> str:
        """The exception-catalog code this fault produces."""
        return _CODES[self]


_CODES: dict[FaultKind, str] = {
    FaultKind.HOST_OUTAGE: "NET.CONNECT_TIMEOUT",
    FaultKind.FIREWALL_CHANGE: "NET.CONNECT_TIMEOUT",
    FaultKind.CONNECTION_REFUSED: "NET.CONNECT_REFUSED",
    FaultKind.RESPONSE_DROP: "NET.READ_TIMEOUT",
    FaultKind.PAPER_OUT: "PRN.PAPER_OUT",
    FaultKind.PRINTER_COVER_OPEN: "PRN.COVER_OPEN",
    FaultKind.BAD_FIRMWARE: "SW.UPDATE_FAILED",
    FaultKind.ISSUER_OUTAGE: "TXN.ISSUER_UNAVAILABLE",
    FaultKind.FEE_RATE_CHANGE: "REG.FEE_RATE_CHANGED",
}


class Target(BaseModel):
    """Which terminals a fault hits; unset fields match everything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str | None = None
    area: str | None = None
    brand: str | None = None
    model: str | None = None
    bin: Annotated[str, Field(pattern=r"^[0-9]{6,8}$")] | None = None
    share: Annotated[float, Field(gt=0, le=1)] = 1.0


class TimelineEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    at: Annotated[float, Field(ge=0)]
    fault: FaultKind
    target: Target = Target()
    duration: Annotated[float | None, Field(gt=0)] = Field(default=None, alias="for")
    note: str = ""

    @property
    def until(self) -> float | None:
        return None if self.duration is None else self.at + self.duration

    def active(self, t: float) -> bool:
        return self.at <= t and (self.until is None or t < self.until)


class Timeline(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1)]
    duration: Annotated[float, Field(gt=0)]
    events: tuple[TimelineEvent, ...] = ()

    @model_validator(mode="after")
    def _inside(self) -> Timeline:
        for i, e in enumerate(self.events):
            if e.at >= self.duration:
                raise ValueError(f"events[{i}] starts at {e.at}s, after the end ({self.duration}s)")
        return self

    def active_at(self, t: float) -> list[TimelineEvent]:
        return [e for e in self.events if e.active(t)]

    def scaled(self, factor: float) -> Timeline:
        """The same story played ``factor`` times faster (factor > 1) or slower."""
        events = [
            e.model_copy(
                update={
                    "at": e.at / factor,
                    "duration": None if e.duration is None else e.duration / factor,
                }
            )
            for e in self.events
        ]
        return self.model_copy(update={"duration": self.duration / factor, "events": tuple(events)})


def parse_timeline(raw: Any, *, source: str = "timeline") -> Timeline:
    """Validate a decoded timeline; errors name the source, the event and the field."""
    try:
        return Timeline.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        raise ConfigError(f"{source}: {where}: {err['msg']}") from exc


def load_timeline(path: Path | None = None) -> Timeline:
    """Load a timeline YAML file; without a path, the shipped default story."""
    path = path or Path(str(files("posguard.sim") / "data" / "default_timeline.yaml"))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read timeline: {exc}") from exc
    return parse_timeline(raw, source=str(path))
