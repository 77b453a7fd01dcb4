"""Heartbeat wear counters (cumulative) turned into counts per day, the scoring's input.

A terminal reports cumulative counters (``common.events.WearCounters``); the score reads how
much each grew per day. A counter that goes down was reset (a new board, a wiped store): the
new value is what was counted since the reset. A day with no pair of heartbeats is unknown
(NaN), not zero.

>>> from datetime import UTC, datetime
>>> day = lambda d, h: datetime(2026, 11, d, h, tzinfo=UTC)
>>> s = [Sample(day(1, 0), {"card_reads": 10}), Sample(day(1, 12), {"card_reads": 30}),
...      Sample(day(2, 12), {"card_reads": 45}), Sample(day(3, 12), {"card_reads": 5})]
>>> daily_counts(s, end=day(4, 0), days=3).counts["card_reads"].tolist()
[20.0, 15.0, 5.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from posguard.common.events import WEAR_COUNTERS

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Sample:
    """One heartbeat's cumulative counters at its timestamp."""

    ts: datetime
    counters: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class DailyCounts:
    """Per counter, how much it grew on each of ``days`` days ending the day before ``end``
    (oldest first); NaN where the day was not observed."""

    first_day: date
    counts: Mapping[str, Array]

    @property
    def days(self) -> int:
        return len(next(iter(self.counts.values()))) if self.counts else 0

    def get(self, name: str, since: date | None = None) -> Array:
        """The counts of ``name``; with ``since``, the days before it unknown (a part replaced
        that day: what the old part did says nothing of the new one)."""
        found = self.counts.get(name)
        values = found if found is not None else np.full(self.days, np.nan)
        if since is not None and since > self.first_day:
            values = values.copy()
            values[: (since - self.first_day).days] = np.nan
        return values


def daily_counts(
    samples: Iterable[Sample], *, end: datetime, days: int, names: Sequence[str] = WEAR_COUNTERS
) -> DailyCounts:
    """Bucket the growth between consecutive samples into the day (UTC) of the later one."""
    first = (end - timedelta(days=days)).date()
    ordered = sorted(samples, key=lambda s: s.ts)
    out = {n: np.full(days, np.nan) for n in names}
    last: dict[str, float] = {}
    for sample in ordered:
        idx = (sample.ts.date() - first).days
        for name in names:
            value = sample.counters.get(name)
            if value is None:
                continue
            before = last.get(name)
            last[name] = value
            if before is None or not 0 <= idx < days:
                continue
            grew = value - before if value >= before else value
            cell = out[name]
            cell[idx] = grew if np.isnan(cell[idx]) else cell[idx] + grew
    return DailyCounts(first_day=first, counts=out)
