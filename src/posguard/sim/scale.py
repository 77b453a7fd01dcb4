"""The scale run: a light fleet of many terminals, with events per second and memory measured.

The sink decides what "handled" means: counting only (the model's own speed), or a fleet
ingest function (the whole path). Memory is the process's peak RSS, read from the kernel.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

from posguard.sim.light import EventDict, LightFleet, SimStats
from posguard.sim.population import build_estate
from posguard.sim.timeline import Timeline, load_timeline


@dataclass(frozen=True, slots=True)
class ScaleReport:
    terminals: int
    simulated_s: float
    wall_s: float
    events: int
    events_per_s: float
    build_s: float
    peak_rss_mib: float
    stats: SimStats

    @property
    def speedup(self) -> float:
        """Simulated seconds per wall-clock second."""
        return self.simulated_s / self.wall_s if self.wall_s else 0.0


def peak_rss_mib() -> float:
    """Peak resident set size of this process, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_scale(
    *,
    terminals: int,
    sink: Callable[[list[EventDict]], object] | None = None,
    timeline: Timeline | None = None,
    heartbeat_interval: float = 60.0,
    tick: float = 1.0,
    seed: int = 1,
) -> ScaleReport:
    """Build an estate of ``terminals`` and play ``timeline`` through ``sink``."""
    t0 = time.perf_counter()
    estate = build_estate(terminals=terminals, seed=seed)
    fleet = LightFleet(
        estate, timeline or load_timeline(), heartbeat_interval=heartbeat_interval, seed=seed
    )
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    stats = fleet.run(sink or (lambda _batch: None), tick=tick)
    wall = time.perf_counter() - t1
    return ScaleReport(
        terminals=terminals,
        simulated_s=fleet.timeline.duration,
        wall_s=wall,
        events=stats.events,
        events_per_s=stats.events / wall if wall else 0.0,
        build_s=build_s,
        peak_rss_mib=peak_rss_mib(),
        stats=stats,
    )
