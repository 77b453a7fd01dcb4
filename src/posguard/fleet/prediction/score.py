"""A terminal's risk of a hardware fault in the next days, with the evidence it rests on.

Per component (``components.py``) over the last ``window_days`` of daily counts:

- **baseline**: the component's fault rate over the window's older days, pulled toward the
  fleet's typical rate by ``prior_use`` (a terminal with little history is not alarming);
- **level**: the last ``recent_days``' rate against that baseline (log2 of the ratio, less
  one: a doubling is ordinary), counted only from ``min_recent_faults`` faults on;
- **trend**: the Theil–Sen slope over the last ``trend_days`` of the daily fault counts
  standardised against the baseline (Poisson, widened by ``overdispersion``), as the rise over
  those days in standard units (wear rises steadily; an operator's bad day is one outlier);
  the slope of the rate itself is kept for the explanation;
- **change**: a one-sided CUSUM over the same standardised counts: a sustained upward shift
  and the day it began;
- **incidents**: the component's incidents in the last 30 days;
- **unconfirmed** (≤ 0): a component's ``confirm`` counter is the symptom only wear of that part
  raises (chip fallbacks, cutter jams); its count over the last ``confirm_days`` against its own
  baseline, standardised as above, is the corroboration: from ``confirm_z`` standard units on
  the term is 0, at or below 0 it is ``-w_unconfirmed`` (failed reads rising alone are more
  often a new cashier's swiping than a worn reader), linear between. A terminal that does not
  report the counter gets no such term.

``risk = sigmoid(bias + Σ weight × term)``, each term clipped, so every number that moved the
score can be shown. The terminal's risk is its riskiest component's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from numpy.typing import NDArray

from posguard.fleet.prediction.components import COMPONENTS, Component
from posguard.fleet.prediction.series import Array, DailyCounts
from posguard.fleet.prediction.stats import CusumResult, cusum_upper, theil_sen_slope


@dataclass(frozen=True, slots=True)
class ScoringParams:
    window_days: int = 28
    trend_days: int = 10
    recent_days: int = 3
    min_recent_use_days: int = 2  # fewer observed recent days: not enough to judge
    min_recent_faults: int = 3  # fewer faults in the recent days: no level term
    overdispersion: float = 2.0
    cusum_k: float = 1.0
    cusum_h: float = 6.0
    trend_rise: float = 4.0  # a rise of this many standard units over trend_days: term 1.0
    bias: float = -5.0
    w_level: float = 1.2
    w_trend: float = 1.5
    w_change: float = 1.2
    w_incidents: float = 0.8
    confirm_days: int = 5
    confirm_z: float = 2.0
    w_unconfirmed: float = 3.0
    threshold: float = 0.3  # risk at or above this ...
    persist_days: int = 1  # ... on each of this many mornings in a row: visit
    # a visit that found nothing raises the bar for that terminal for a while (its staff or
    # its paper make noise that looked like wear)
    threshold_after_wasted: float = 0.8
    wasted_memory_days: int = 30


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one component's score was made of (rates in the component's ``use_unit``)."""

    component: str
    risk: float
    baseline_rate: float
    recent_rate: float
    slope_per_day: float
    cusum: CusumResult
    change_day: date | None
    incidents: int
    terms: Mapping[str, float] = field(default_factory=dict)  # term -> weighted contribution
    # the confirming counter (``Component.confirm``) over the last ``confirm_days``: its rate
    # then, its own baseline rate, and the rise in standard units (None: not reported)
    confirm_recent_rate: float | None = None
    confirm_baseline_rate: float | None = None
    confirm_z: float | None = None
    confirm_days: int = 5


@dataclass(frozen=True, slots=True)
class TerminalRisk:
    terminal_id: str
    risk: float
    component: str
    evidence: tuple[Evidence, ...]  # riskiest first

    @property
    def top(self) -> Evidence:
        return self.evidence[0]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _use(daily: DailyCounts, comp: Component, since: date | None) -> Array:
    if comp.use is None:  # per observed day: a day with any counter reported
        seen = np.zeros(daily.days, dtype=bool)
        for name in daily.counts:
            seen |= ~np.isnan(daily.get(name, since))
        return np.where(seen, 1.0, np.nan)
    return daily.get(comp.use, since) / comp.use_unit


def _faults(
    daily: DailyCounts, comp: Component, since: date | None, names: tuple[str, ...] = ()
) -> Array:
    total = np.zeros(daily.days)
    known = np.zeros(daily.days, dtype=bool)
    for name in names or comp.faults:
        values = daily.get(name, since)
        seen = ~np.isnan(values)
        total += np.where(seen, values, 0.0)
        known |= seen
    return np.where(known, total, np.nan)


def score_component(
    daily: DailyCounts,
    comp: Component,
    *,
    incidents: int = 0,
    since: date | None = None,
    params: ScoringParams = ScoringParams(),
) -> Evidence | None:
    """The component's evidence, or None when the terminal does not report its counters.
    ``since``: the day its part was replaced (older counts are ignored)."""
    p = params
    use = _use(daily, comp, since)[-p.window_days :]
    faults = _faults(daily, comp, since)[-p.window_days :]
    ok = ~np.isnan(use) & ~np.isnan(faults) & (use > 0)
    n = use.size
    if not ok[-p.trend_days :].any():
        return None
    u = np.where(ok, use, 0.0)
    f = np.where(ok, faults, 0.0)
    split = max(n - p.trend_days, 0)
    base = (f[:split].sum() + comp.prior_rate * comp.prior_use) / (u[:split].sum() + comp.prior_use)
    recent = slice(n - p.recent_days, n)
    recent_faults = float(f[recent].sum())
    if ok[recent].sum() >= min(p.min_recent_use_days, p.recent_days):
        recent_rate = float(recent_faults / max(u[recent].sum(), 1e-9))
    else:
        recent_rate = float(base)
    tail = np.flatnonzero(ok[split:]) + split
    expected = base * u[split:]
    z = np.where(
        ok[split:],
        (f[split:] - expected) / np.sqrt(np.maximum(expected, 0.25) * p.overdispersion),
        0.0,
    )
    if tail.size >= 3:
        slope = theil_sen_slope(tail.astype(float), f[tail] / u[tail])
        rise = theil_sen_slope(tail.astype(float), z[tail - split]) * p.trend_days
    else:
        slope = rise = 0.0
    cus = cusum_upper(z.tolist(), k=p.cusum_k, h=p.cusum_h)
    level = (  # x2 is noise; so are a fault or two on a quiet terminal
        min(max(math.log2(max(recent_rate, 1e-12) / base) - 1.0, 0.0), 3.0)
        if recent_faults >= p.min_recent_faults
        else 0.0
    )
    trend = min(max(rise / p.trend_rise, 0.0), 3.0)
    change = min(cus.peak / p.cusum_h, 3.0)
    inc = float(min(incidents, 3))
    terms = {
        "level": p.w_level * level,
        "trend": p.w_trend * trend,
        "change": p.w_change * change,
        "incidents": p.w_incidents * inc,
    }
    confirm = _confirmation(daily, comp, since, use, ok, split, p)
    if confirm is not None:
        terms["unconfirmed"] = -p.w_unconfirmed * (1.0 - min(max(confirm[2] / p.confirm_z, 0), 1))
    first = daily.first_day + timedelta(days=daily.days - n)
    change_day = (
        first + timedelta(days=split + cus.start) if cus.alarm and cus.start is not None else None
    )
    return Evidence(
        component=comp.name,
        risk=round(_sigmoid(p.bias + sum(terms.values())), 4),
        baseline_rate=float(base),
        recent_rate=recent_rate,
        slope_per_day=slope,
        cusum=cus,
        change_day=change_day,
        incidents=incidents,
        terms={k: round(v, 3) for k, v in terms.items()},
        confirm_recent_rate=confirm[0] if confirm is not None else None,
        confirm_baseline_rate=confirm[1] if confirm is not None else None,
        confirm_z=round(confirm[2], 3) if confirm is not None else None,
        confirm_days=p.confirm_days,
    )


def _confirmation(
    daily: DailyCounts,
    comp: Component,
    since: date | None,
    use: Array,
    ok: NDArray[np.bool_],
    split: int,
    p: ScoringParams,
) -> tuple[float, float, float] | None:
    """The confirming counter's recent rate, baseline rate and rise in standard units over the
    last ``confirm_days`` (None: the component has none, or the terminal does not report it)."""
    if comp.confirm is None:
        return None
    counts = _faults(daily, comp, since, (comp.confirm,))[-p.window_days :]
    seen = ok & ~np.isnan(counts)
    if not seen[-p.confirm_days :].any():
        return None
    u = np.where(seen, use, 0.0)
    c = np.where(seen, counts, 0.0)
    base = (c[:split].sum() + comp.confirm_prior_rate * comp.prior_use) / (
        u[:split].sum() + comp.prior_use
    )
    used = float(u[-p.confirm_days :].sum())
    seen_n = float(c[-p.confirm_days :].sum())
    expected = base * used
    z = (seen_n - expected) / math.sqrt(max(expected, 0.25) * p.overdispersion)
    return seen_n / max(used, 1e-9), float(base), float(z)


def score_terminal(
    terminal_id: str,
    daily: DailyCounts,
    *,
    incidents: Mapping[str, int] | None = None,
    replaced: Mapping[str, date] | None = None,
    params: ScoringParams = ScoringParams(),
    components: tuple[Component, ...] = COMPONENTS,
) -> TerminalRisk | None:
    """The terminal's risk (its riskiest component's), or None without any wear counters.

    ``incidents``: the terminal's incidents of the last 30 days per component name;
    ``replaced``: the day each component's part was last replaced (a confirmed visit)."""
    found = []
    for comp in components:
        ev = score_component(
            daily,
            comp,
            incidents=(incidents or {}).get(comp.name, 0),
            since=(replaced or {}).get(comp.name),
            params=params,
        )
        if ev is not None:
            found.append(ev)
    if not found:
        return None
    found.sort(key=lambda ev: ev.risk, reverse=True)
    return TerminalRisk(
        terminal_id=terminal_id,
        risk=found[0].risk,
        component=found[0].component,
        evidence=tuple(found),
    )


def visit_due(
    terminal_id: str,
    daily: DailyCounts,
    *,
    incidents: Mapping[str, int] | None = None,
    replaced: Mapping[str, date] | None = None,
    recently_wasted: bool = False,
    params: ScoringParams = ScoringParams(),
) -> tuple[bool, TerminalRisk | None]:
    """Whether the terminal should be visited: its risk at or above the threshold today and on
    the ``persist_days - 1`` mornings before (a clumsy day at the till passes, wear stays),
    with today's risk. ``recently_wasted``: a visit found nothing within
    ``wasted_memory_days``: the bar is ``threshold_after_wasted``."""
    today = score_terminal(
        terminal_id, daily, incidents=incidents, replaced=replaced, params=params
    )
    bar = params.threshold_after_wasted if recently_wasted else params.threshold
    if today is None or today.risk < bar:
        return False, today
    for back in range(1, params.persist_days):
        earlier = DailyCounts(
            first_day=daily.first_day, counts={k: v[:-back] for k, v in daily.counts.items()}
        )
        then = score_terminal(
            terminal_id, earlier, incidents=incidents, replaced=replaced, params=params
        )
        if then is None or then.risk < bar:
            return False, today
    return True, today
