"""A fault timeline: at t seconds (from the start) set a fault or clear faults, read from YAML.

.. code-block:: yaml

    steps:
      - {at: 0, set: {kind: delay, delay_ms: 800, jitter_ms: 200, seed: 7}}
      - {at: 10, clear: delay}
      - {at: 12, set: {kind: drop_response, frames: 1}}
      - {at: 20, set: {kind: drop_connect}}   # a firewall drops the SYNs
      - {at: 30, clear: all}

>>> steps = [{"at": 1, "set": {"kind": "blackhole"}}, {"at": 2, "clear": "all"}]
>>> tl = parse_timeline({"steps": steps})
>>> [s.at for s in tl.steps]
[1.0, 2.0]
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import structlog
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from posguard.common.errors import ConfigError
from posguard.common.validation import first_error
from posguard.host.faults import Fault, FaultKind
from posguard.host.proxy import FaultProxy

__all__ = ["Timeline", "TimelineStep", "load_timeline", "parse_timeline", "run_timeline"]

log = structlog.get_logger("posguard.host.timeline")


class TimelineStep(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    at: float = Field(ge=0)
    set_: Fault | None = Field(default=None, alias="set")
    clear: FaultKind | Literal["all"] | None = None

    @model_validator(mode="after")
    def _one_action(self) -> TimelineStep:
        if (self.set_ is None) == (self.clear is None):
            raise ValueError("a step has exactly one of 'set' or 'clear'")
        return self


class Timeline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[TimelineStep]

    @model_validator(mode="after")
    def _ordered(self) -> Timeline:
        ats = [s.at for s in self.steps]
        if ats != sorted(ats):
            raise ValueError("steps must be in time order")
        return self


def parse_timeline(raw: Any, source: str = "<data>") -> Timeline:
    if isinstance(raw, list):
        raw = {"steps": raw}
    try:
        return Timeline.model_validate(raw)
    except ValidationError as exc:
        where, msg = first_error(exc)
        raise ConfigError(f"invalid fault timeline: {msg}", path=source, field=where) from exc


def load_timeline(path: str | Path) -> Timeline:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read fault timeline: {exc}", path=str(path)) from exc
    return parse_timeline(raw, str(path))


async def run_timeline(
    proxy: FaultProxy,
    timeline: Timeline,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Apply each step at its time (relative to the call); returns after the last step."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for step in timeline.steps:
        wait = start + step.at - loop.time()
        if wait > 0:
            await sleep(wait)
        if step.set_ is not None:
            proxy.set_fault(step.set_)
        else:
            proxy.clear(None if step.clear == "all" else FaultKind(str(step.clear)))
        log.info(
            "timeline step",
            at=step.at,
            action="set" if step.set_ is not None else f"clear {step.clear}",
        )
