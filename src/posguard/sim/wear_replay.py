"""Replay a simulated year of wear against a maintenance policy: who was visited, what was found,
which failures were caught in time.

Two policies, the same fleet (same seed): **predictive** (each morning the fleet's risk score,
``posguard.fleet.prediction``, over each terminal's last weeks of counters; a terminal at or
above the threshold is visited that day) and **fixed-interval** inspections (every terminal
every ``interval_days``, spread evenly). At a visit the technician replaces every part that is
visibly wearing (``WearFleet.is_worn``); a visit that finds nothing is *wasted*. A failure is
*caught* when its part was replaced at a visit decided at least ``lead_hours`` before the part
would have failed; the lead time is the time from that decision to the would-be failure.
After a replacement the score reads that part's counters only from the visit on, as the fleet
does with a recorded visit (``prediction.visits``).

These are figures from a simulation, not from a field estate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray

from posguard.common.events import WEAR_COUNTERS
from posguard.fleet.prediction.score import ScoringParams, visit_due
from posguard.fleet.prediction.series import DailyCounts
from posguard.sim.wear import PARTS, WearFleet

FIRST_DAY = date(2026, 1, 1)


@dataclass
class ReplayResult:
    policy: str
    days: int
    terminals: int
    visits: int = 0
    wasted: int = 0
    caught: int = 0
    caught_late: int = 0  # replaced, but decided less than lead_hours before the failure
    failed: int = 0  # failures that happened
    failed_sudden: int = 0
    leads_h: list[float] = field(default_factory=list)

    @property
    def failures(self) -> int:
        """Every failure that happened or would have happened without the visit."""
        return self.caught + self.caught_late + self.failed

    @property
    def recall(self) -> float:
        return self.caught / self.failures if self.failures else 0.0

    @property
    def precision(self) -> float:
        return (self.visits - self.wasted) / self.visits if self.visits else 0.0

    @property
    def wasted_share(self) -> float:
        return self.wasted / self.visits if self.visits else 0.0

    @property
    def median_lead_h(self) -> float:
        return float(np.median(self.leads_h)) if self.leads_h else 0.0


Chooser = Callable[[int, dict[str, NDArray[np.float64]], NDArray[np.float64]], NDArray[np.intp]]


def replay(
    *,
    terminals: int,
    seed: int,
    days: int = 365,
    policy: str = "predictive",
    interval_days: int = 90,
    params: ScoringParams | None = None,
    lead_hours: float = 24.0,
    cooldown_days: int = 7,
    warmup_days: int = 35,
    life_scale_sales: float = 60_000.0,
) -> ReplayResult:
    """Play ``warmup_days`` (history only) then ``days`` days under ``policy``
    (``predictive`` or ``fixed``)."""
    if policy not in ("predictive", "fixed"):
        raise ValueError(f"policy must be predictive or fixed, not {policy!r}")
    params = params or ScoringParams()
    fleet = WearFleet(terminals=terminals, seed=seed, life_scale_sales=life_scale_sales)
    total = warmup_days + days
    hist = {name: np.full((terminals, total), np.nan) for name in WEAR_COUNTERS}
    fresh = {part: np.zeros(terminals, dtype=np.int64) for part in PARTS}
    quiet_until = np.zeros(terminals, dtype=np.int64)
    wasted_on = np.full(terminals, -(10**6), dtype=np.int64)  # the last visit that found nothing
    phase = np.random.default_rng(seed + 1).integers(0, interval_days, terminals)
    result = ReplayResult(policy=policy, days=days, terminals=terminals)
    window = params.window_days
    for d in range(total):
        counted = d >= warmup_days
        if counted:
            if policy == "predictive":
                chosen = _predicted(hist, fresh, quiet_until, wasted_on, d, window, params)
            else:
                chosen = np.flatnonzero((d + phase) % interval_days == 0)
            _visit(
                fleet, chosen, d, fresh, quiet_until, wasted_on, cooldown_days, lead_hours, result
            )
        failures_before = len(fleet.failures)
        day = fleet.step()
        for name, values in day.items():
            hist[name][:, d] = values
        if counted:
            for f in fleet.failures[failures_before:]:
                result.failed += 1
                result.failed_sudden += 0 if f.warned else 1
                fresh[f.part][f.terminal] = d + 1  # a new part after the repair
    return result


def _predicted(
    hist: dict[str, NDArray[np.float64]],
    fresh: dict[str, NDArray[np.int64]],
    quiet_until: NDArray[np.int64],
    wasted_on: NDArray[np.int64],
    d: int,
    window: int,
    params: ScoringParams,
) -> NDArray[np.intp]:
    """The terminals whose risk this morning (counters up to yesterday) reaches the threshold."""
    lo = max(d - window - params.persist_days + 1, 0)
    first = FIRST_DAY + timedelta(days=lo)
    chosen = []
    for t in np.flatnonzero(quiet_until <= d):
        counts = {name: arr[t, lo:d] for name, arr in hist.items()}
        replaced = {
            part: FIRST_DAY + timedelta(days=int(fresh[part][t]))
            for part in PARTS
            if fresh[part][t] > lo
        }
        daily = DailyCounts(first_day=first, counts=counts)
        wasted = d - wasted_on[t] <= params.wasted_memory_days
        due, _ = visit_due(
            str(t), daily, replaced=replaced, recently_wasted=bool(wasted), params=params
        )
        if due:
            chosen.append(t)
    return np.asarray(chosen, dtype=np.intp)


def _visit(
    fleet: WearFleet,
    idx: NDArray[np.intp],
    d: int,
    fresh: dict[str, NDArray[np.int64]],
    quiet_until: NDArray[np.int64],
    wasted_on: NDArray[np.int64],
    cooldown_days: int,
    lead_hours: float,
    result: ReplayResult,
) -> None:
    """Visits decided on the morning of day ``d``, done that day: worn parts replaced."""
    if idx.size == 0:
        return
    result.visits += int(idx.size)
    found = np.zeros(idx.size, dtype=bool)
    for part in PARTS:
        worn = fleet.is_worn(part, idx)
        found |= worn
        hit = idx[worn]
        lead_h = fleet.days_to_failure(part)[hit] * 24.0
        for lead in lead_h:
            if lead >= lead_hours:
                result.caught += 1
                result.leads_h.append(float(lead))
            else:
                result.caught_late += 1
        if hit.size:
            fleet.replace(part, hit)
            fresh[part][hit] = d
    result.wasted += int((~found).sum())
    wasted_on[idx[~found]] = d
    quiet_until[idx] = d + cooldown_days
