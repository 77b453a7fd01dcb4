"""What the diagnosis engine sees of a stored event, and what it decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Observed:
    """A stored event as the engine sees it (``id`` is the events-table row id)."""

    id: int
    terminal_id: str
    merchant_id: str
    seq: int
    ts: datetime
    kind: str
    code: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def anchor(self) -> str:
        """The event's identity across restarts and shards: terminal and its own sequence."""
        return f"{self.terminal_id}#{self.seq}"

    def ref(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "ts": self.ts.isoformat(),
            "kind": self.kind,
            "code": self.code,
        }


@dataclass(frozen=True, slots=True)
class Open:
    """The create condition of ``rule_id`` holds for ``scope``: open (or extend) its incident."""

    rule_id: str
    scope: str
    code: str
    at: datetime
    reason: str
    events: tuple[Observed, ...]
    terminal_id: str | None = None
    merchant_id: str | None = None
    # for fleet-wide incidents: the terminals whose own incidents it swallows
    members: tuple[str, ...] = ()
    # what caused it ("T1#42": the event that opened it): one incident per rule, scope and cause
    cause: str = ""

    def cause_key(self) -> str:
        return f"{self.rule_id}|{self.scope}|{self.cause}"[:320]


@dataclass(frozen=True, slots=True)
class Clear:
    """The clear condition of ``rule_id`` holds for ``scope``: resolve its open incident."""

    rule_id: str
    scope: str
    at: datetime
    reason: str


Decision = Open | Clear
