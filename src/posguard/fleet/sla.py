"""Where an incident stands against its severity's SLA targets: time to acknowledge and time
to resolve, each met, breached, or running with the time remaining. Pure.

>>> from datetime import UTC, datetime, timedelta
>>> from posguard.fleet.incident_policy import SlaTarget
>>> t0 = datetime(2026, 12, 2, 10, tzinfo=UTC)
>>> s = evaluate(SlaTarget(ack_min=15, resolve_min=240), opened_at=t0, acknowledged_at=None,
...     resolved_at=None, now=t0 + timedelta(minutes=20))
>>> s.ack.state.value, s.ack.overdue_s, s.resolve.state.value, s.resolve.remaining_s
('breached', 300.0, 'running', 13200.0)
>>> s.breached
True
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from posguard.fleet.incident_policy import SlaTarget


class SlaState(StrEnum):
    RUNNING = "running"  # not done yet, within the target
    MET = "met"  # done within the target
    BREACHED = "breached"  # done late, or not done and past the target


@dataclass(frozen=True, slots=True)
class Clock:
    """One SLA clock (acknowledge or resolve)."""

    target_s: float
    elapsed_s: float  # until done, or until now
    state: SlaState

    @property
    def remaining_s(self) -> float:
        return max(0.0, self.target_s - self.elapsed_s)

    @property
    def overdue_s(self) -> float:
        return max(0.0, self.elapsed_s - self.target_s)


@dataclass(frozen=True, slots=True)
class SlaStatus:
    ack: Clock
    resolve: Clock

    @property
    def breached(self) -> bool:
        return SlaState.BREACHED in (self.ack.state, self.resolve.state)


def _clock(
    target_min: float, opened_at: datetime, done_at: datetime | None, now: datetime
) -> Clock:
    target_s = target_min * 60
    elapsed = max(0.0, ((done_at or now) - opened_at).total_seconds())
    if done_at is not None:
        state = SlaState.MET if elapsed <= target_s else SlaState.BREACHED
    else:
        state = SlaState.RUNNING if elapsed <= target_s else SlaState.BREACHED
    return Clock(target_s, elapsed, state)


def evaluate(
    target: SlaTarget,
    *,
    opened_at: datetime,
    acknowledged_at: datetime | None,
    resolved_at: datetime | None,
    now: datetime,
) -> SlaStatus:
    """A resolved incident that was never acknowledged counts as acknowledged when resolved."""
    acked = acknowledged_at or resolved_at
    return SlaStatus(
        ack=_clock(target.ack_min, opened_at, acked, now),
        resolve=_clock(target.resolve_min, opened_at, resolved_at, now),
    )
