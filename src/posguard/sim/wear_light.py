"""The light fleet's wear counters: each heartbeat's ``data.wear`` from the wear model.

:class:`LightWear` plays ``posguard.sim.wear.WearFleet`` (printers and card readers wearing with
use, with noise) one simulated UTC day at a time, as the light fleet's clock passes each
midnight, and turns it into the cumulative counters a terminal sends (docs/events.md, ``wear``):
each terminal starts with the counts of its past (its counter store is months to years old),
and within a day its counters grow hour by hour toward that day's total. A heartbeat carries
the counters as of the start of its hour.

Cheap by construction: a terminal's heartbeat ``data`` (with its ``wear``) is built once per
simulated hour and the same dict is shared by its heartbeats of that hour (nothing mutates an
event's data; a new hour builds a new dict). The first hour's are built with the fleet
(:meth:`prime`), as the rest of its starting state is. Its own random generator (the wear
model's), so adding it leaves the light fleet's own event stream as it was.

>>> from datetime import UTC, datetime
>>> import numpy as np
>>> lw = LightWear(3, seed=1, start=datetime(2026, 11, 25, 2, tzinfo=UTC))
>>> a = lw.heartbeat_data(np.arange(3), 0.0, {"interval_s": 60.0})
>>> b = lw.heartbeat_data(np.arange(3), 86_400.0, {"interval_s": 60.0})
>>> all(b[k]["wear"][n] >= a[k]["wear"][n] for k in range(3) for n in a[k]["wear"])
True
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posguard.common.events import WEAR_COUNTERS
from posguard.sim.wear import WearFleet

_DAY_S = 86_400
_HOUR_S = 3_600
HISTORY_DAYS = (60, 900)  # how old each terminal's counter store is at the start, in days


class LightWear:
    """Wear counters for ``terminals`` light terminals (index = position in the estate)."""

    def __init__(
        self,
        terminals: int,
        *,
        seed: int = 1,
        start: datetime,
        mean_sales: float = 70.0,
        life_scale_sales: float = 60_000.0,
    ) -> None:
        self.model = WearFleet(
            terminals=terminals,
            seed=seed,
            mean_sales=mean_sales,
            life_scale_sales=life_scale_sales,
        )
        self.n = terminals
        self._t0 = start.timestamp()
        self.first_day = int(self._t0 // _DAY_S)  # UTC day number of the model's day 0
        past = self._counters(self.model.step())  # one day's use, times each store's age
        age = self.model.rng.uniform(*HISTORY_DAYS, terminals)
        self._day_start = np.floor(past * age[:, None]).astype(np.int64)
        self.model.day = 0  # that draw was the past, not a day of the run
        self.model.failures.clear()
        self._today = self._counters(self.model.step())  # the first day's growth
        self._day = self.first_day
        self._hour = np.full(terminals, -1, dtype=np.int64)
        self._data: list[dict[str, Any] | None] = [None] * terminals
        self._muted = np.zeros(terminals, dtype=bool)

    def mute(self, idx: NDArray[np.intp]) -> None:
        """These terminals send no ``wear`` (another source speaks for their counters, e.g. the
        demo's wearing-printer story: two sets of cumulative counters for one terminal would
        read as resets)."""
        self._muted[idx] = True
        self._hour[idx] = -1  # rebuild their data at the next heartbeat

    @staticmethod
    def _counters(day: dict[str, NDArray[np.float64]]) -> NDArray[np.float64]:
        return np.stack([day[name] for name in WEAR_COUNTERS], axis=1)

    def _advance(self, day: int) -> None:
        while self._day < day:
            self._day_start += self._today.astype(np.int64)
            self._today = self._counters(self.model.step())
            self._day += 1

    def prime(self, base: dict[str, Any]) -> None:
        """Build every terminal's heartbeat ``data`` for the first hour."""
        self.heartbeat_data(np.arange(self.n), 0.0, base)

    def heartbeat_data(
        self, idx: NDArray[np.intp], t: float, base: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Each heartbeat's ``data`` (``base`` and ``wear``) for the terminals of ``idx`` at
        ``t`` seconds after the start."""
        now = self._t0 + t
        day = int(now // _DAY_S)
        hour = int(now // _HOUR_S)
        self._advance(day)
        stale = idx[self._hour[idx] != hour]
        if stale.size:
            frac = (hour - day * 24) / 24
            values = self._day_start[stale] + np.floor(self._today[stale] * frac).astype(np.int64)
            data = self._data
            muted = self._muted[stale].tolist()
            for i, row, quiet in zip(stale.tolist(), values.tolist(), muted, strict=True):
                wear = dict(zip(WEAR_COUNTERS, row, strict=True))
                data[i] = dict(base) if quiet else {**base, "wear": wear}
            self._hour[stale] = hour
        cached = self._data
        return [cached[i] for i in idx.tolist()]

    def wear_out(self, part: str, idx: NDArray[np.intp], *, days: float, window: float) -> None:
        """Make these terminals' ``part`` fail ``days`` after the model's current day, its
        symptoms rising over its last ``window`` days (for tests and stories)."""
        self.model.set_life(part, idx, days=days, window=window)

    def failed_at(self, terminal: int, part: str) -> list[datetime]:
        """When this terminal's ``part`` failed so far (UTC)."""
        day0 = datetime.fromtimestamp(self.first_day * _DAY_S, tz=UTC)
        return [
            day0 + timedelta(days=f.at)
            for f in self.model.failures
            if f.terminal == terminal and f.part == part
        ]
