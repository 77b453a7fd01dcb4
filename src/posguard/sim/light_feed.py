"""Volume for the demo: a light fleet playing the same story, its events written through the
fleet's own batch-ingest storage function (validation, checks, idempotent insert), tick by tick
in real time, so the dashboard and the diagnosis see an estate, not a few dozen terminals.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from posguard.fleet.ingest.store import EventStore, Outcome
from posguard.sim.light import EventDict, LightFleet
from posguard.sim.population import Estate
from posguard.sim.timeline import Timeline

# Events per store call: the fleet's ingest_batch_max default.
SLICE = 1000


@dataclass
class LightFeed:
    estate: Estate
    timeline: Timeline
    store: EventStore
    seed: int = 1
    quiet_wear: tuple[str, ...] = ()  # terminals whose heartbeats carry no wear counters
    events: int = 0
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def _write(self, batch: list[EventDict]) -> None:
        for i in range(0, len(batch), SLICE):
            for r in self.store.store(batch[i : i + SLICE], transport="sim"):
                if r.outcome is Outcome.STORED:
                    self.stored += 1
                elif r.outcome is Outcome.DUPLICATE:
                    self.duplicate += 1
                else:
                    self.rejected += 1
                    if len(self.reasons) < 5 and r.reason:
                        self.reasons.append(r.reason)

    async def run(self, stop: asyncio.Event, *, tick: float = 1.0) -> None:
        """Play the story in real time (one tick per ``tick`` seconds) until its end or ``stop``."""
        fleet = LightFleet(self.estate, self.timeline, seed=self.seed, start=datetime.now(UTC))
        if fleet.wear is not None and self.quiet_wear:
            quiet = set(self.quiet_wear)
            fleet.wear.mute(np.flatnonzero([tid in quiet for tid in fleet.tids]))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        t = 0.0
        while t < self.timeline.duration and not stop.is_set():
            batch = fleet.step(t, tick)
            self.events += len(batch)
            if batch:
                await asyncio.to_thread(self._write, batch)
            t += tick
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, t0 + t - loop.time()))

    def summary(self) -> dict[str, object]:
        return {
            "terminals": len(self.estate.terminals),
            "events": self.events,
            "stored": self.stored,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "reasons": self.reasons,
        }
