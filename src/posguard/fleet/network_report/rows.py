"""From counts to the report's rows: rates per 1,000 attempts, RTT percentiles, shares, the
weekly trend and the recommendation; the worst places first.

The trend compares the last week's failure rate with the weeks before it: ``worse`` when it is
at least 1.5 times theirs and at least 1 per 1,000 higher, ``better`` the other way round,
``steady`` otherwise; ``None`` with fewer than two weeks of :data:`MIN_WEEK_ATTEMPTS` attempts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np

from posguard.fleet.network_report.aggregate import GroupCounts, GroupKey
from posguard.fleet.network_report.recommend import BETTER_FACTOR, Recommendation, recommend

MIN_ATTEMPTS: Final = 200
MIN_WEEK_ATTEMPTS: Final = 50
TREND_FACTOR: Final = 1.5
TREND_MIN_PER_1000: Final = 1.0


@dataclass(frozen=True, slots=True)
class NetworkRow:
    area: str
    carrier: str
    link: str
    terminals: int
    attempts: int
    timeouts: int
    resets: int
    timeouts_per_1000: float
    resets_per_1000: float
    failures_per_1000: float
    rtt_p50_ms: float | None
    rtt_p95_ms: float | None
    weak_signal_share: float | None
    failover_share: float | None
    weekly_failures_per_1000: tuple[float | None, ...]
    trend: str | None
    enough_data: bool
    recommendation: Recommendation


@dataclass(frozen=True, slots=True)
class NetworkReport:
    since: datetime
    until: datetime
    weeks: int
    merchant_id: str | None
    fleet_attempts: int
    fleet_failures_per_1000: float
    rows: tuple[NetworkRow, ...]


def _per_1000(n: int, attempts: int) -> float:
    return round(1000.0 * n / attempts, 2) if attempts else 0.0


def _share(n: int, of: int) -> float | None:
    return round(n / of, 3) if of else None


def _trend(weekly: list[float | None]) -> str | None:
    known = [w for w in weekly if w is not None]
    if len(known) < 2 or weekly[-1] is None:
        return None
    last, before = known[-1], float(np.mean(known[:-1]))
    if last >= TREND_FACTOR * before and last - before >= TREND_MIN_PER_1000:
        return "worse"
    if before >= TREND_FACTOR * last and before - last >= TREND_MIN_PER_1000:
        return "better"
    return "steady"


def percentile(counts: Mapping[float, int], q: float) -> float:
    """The ``q``-th percentile of values given as value -> how many times, computed as
    ``numpy.percentile`` (method ``linear``) computes it over the values written out, to the
    last bit.

    >>> percentile({10.0: 3, 20.0: 1}, 50) == float(np.percentile([10, 10, 10, 20], 50))
    True
    """
    values = sorted(counts)
    n = sum(counts[v] for v in values)
    virtual = (n - 1) * (q / 100)
    lo = min(max(math.floor(virtual), 0), n - 1)
    hi = min(lo + 1, n - 1)
    gamma = virtual - lo
    a = b = None
    seen = 0
    for v in values:
        seen += counts[v]
        if a is None and seen > lo:
            a = v
        if seen > hi:
            b = v
            break
    assert a is not None
    assert b is not None
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


def _rate(g: GroupCounts) -> float:
    return _per_1000(g.timeouts + g.resets, g.attempts)


def _better_carrier(
    key: GroupKey, g: GroupCounts, peers: dict[GroupKey, GroupCounts]
) -> str | None:
    """Another carrier on the same link in the same area, failing less than half as often."""
    best: tuple[float, str] | None = None
    for k, p in peers.items():
        if (k.area, k.link) != (key.area, key.link) or k.carrier == key.carrier:
            continue
        if p.attempts < MIN_ATTEMPTS or _rate(p) > BETTER_FACTOR * _rate(g):
            continue
        if best is None or _rate(p) < best[0]:
            best = (_rate(p), k.carrier)
    return None if best is None else best[1]


def build_row(
    key: GroupKey, g: GroupCounts, *, fleet_per_1000: float, peers: dict[GroupKey, GroupCounts]
) -> NetworkRow:
    weekly = [
        _per_1000(f, a) if a >= MIN_WEEK_ATTEMPTS else None
        for a, f in zip(g.weekly_attempts, g.weekly_failures, strict=True)
    ]
    p50, p95 = (
        (round(percentile(g.rtts, 50), 1), round(percentile(g.rtts, 95), 1))
        if g.rtts
        else (None, None)
    )
    weak = _share(g.weak, g.signal_reports)
    enough = g.attempts >= MIN_ATTEMPTS
    return NetworkRow(
        area=key.area,
        carrier=key.carrier,
        link=key.link,
        terminals=len(g.terminals),
        attempts=g.attempts,
        timeouts=g.timeouts,
        resets=g.resets,
        timeouts_per_1000=_per_1000(g.timeouts, g.attempts),
        resets_per_1000=_per_1000(g.resets, g.attempts),
        failures_per_1000=_rate(g),
        rtt_p50_ms=p50,
        rtt_p95_ms=p95,
        weak_signal_share=weak,
        failover_share=_share(g.failover, g.failover_reports),
        weekly_failures_per_1000=tuple(weekly),
        trend=_trend(weekly),
        enough_data=enough,
        recommendation=recommend(
            link=key.link,
            attempts=g.attempts,
            failures=g.timeouts + g.resets,
            fleet_per_1000=fleet_per_1000,
            rtt_p95_ms=p95,
            weak_share=weak,
            better_carrier=_better_carrier(key, g, peers) if enough else None,
            enough_data=enough,
        ),
    )


def worst_first(rows: list[NetworkRow]) -> tuple[NetworkRow, ...]:
    """Places with enough data by failure rate (then RTT p95), worst first; the rest after."""
    return tuple(
        sorted(
            rows,
            key=lambda r: (
                not r.enough_data,
                -r.failures_per_1000,
                -(r.rtt_p95_ms or 0.0),
                r.area,
                r.carrier,
                r.link,
            ),
        )
    )
