"""How each light terminal reaches its host: link, carrier, signal, round trip, and the network
failures that come with them (issue 20, the network report's simulated data).

Every terminal gets a link (wired, Wi-Fi, 4G, 5G) and a carrier, fixed for the run; a mobile or
Wi-Fi terminal a signal level around its own mean. A few (area, carrier) pairs with mobile
terminals, chosen by the seed, are *weak spots*: mobile signal there is ~20 dB worse, and in
the first of them it gets worse week by week. A transaction attempt times out or is reset with
a probability that depends on the link and grows with a weak signal; a terminal with a backup
path reports ``failover`` now and then, more often where its primary is poor. Heartbeats carry
the fields documented in ``posguard.common.events``.

The model has its own random generator, so adding it to a fleet leaves the rest of that fleet's
event stream as it was.

>>> from posguard.sim.population import build_estate
>>> net = NetworkModel.for_estate(build_estate(terminals=200, seed=4), seed=4)
>>> sorted(set(net.link_names()))
['4g', '5g', 'wifi', 'wired']
>>> hb = net.heartbeat_data(np.arange(3), week=0.0)
>>> sorted(hb[0]) == sorted({"link", "carrier", "rtt_ms", "failover", *hb[0]})
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from posguard.sim.population import Estate

LINKS: Final = ("wired", "wifi", "4g", "5g")
LINK_WEIGHTS: Final = (0.35, 0.25, 0.33, 0.07)
CARRIERS: Final = ("China Mobile", "China Unicom", "China Telecom")
CARRIER_WEIGHTS: Final = (0.5, 0.25, 0.25)

# Per link: mean signal (dBm; NaN = none), base RTT (ms), timeout and reset chance per attempt.
_SIGNAL_MEAN: Final = np.array([np.nan, -58.0, -89.0, -86.0])
_RTT_MS: Final = np.array([32.0, 48.0, 85.0, 42.0])
_P_TIMEOUT: Final = np.array([0.0008, 0.002, 0.003, 0.0015])
_P_RESET: Final = np.array([0.0004, 0.0015, 0.0015, 0.0008])
# Weak-signal thresholds, as the network report reads them (RSRP / RSSI).
WEAK_MOBILE_DBM: Final = -105.0
WEAK_WIFI_DBM: Final = -75.0
WEAK_SPOTS: Final = 2
WEAK_SPOT_DB: Final = 20.0
DEGRADING_DB_PER_WEEK: Final = 2.5
BACKUP_SHARE: Final = 0.3


@dataclass
class NetworkModel:
    """Per-terminal network arrays for a light fleet (index = terminal position)."""

    link: NDArray[np.int8]
    carrier: NDArray[np.int8]
    signal_mean: NDArray[np.float64]
    degrading: NDArray[np.bool_]
    backup: NDArray[np.bool_]
    weak_spots: tuple[tuple[str, str], ...]
    rng: np.random.Generator

    @classmethod
    def for_estate(cls, estate: Estate, *, seed: int = 1) -> NetworkModel:
        rng = np.random.default_rng([seed, 20])
        n = len(estate.terminals)
        link = rng.choice(len(LINKS), size=n, p=LINK_WEIGHTS).astype(np.int8)
        carrier = rng.choice(len(CARRIERS), size=n, p=CARRIER_WEIGHTS).astype(np.int8)
        area = np.array([t.area for t in estate.terminals])
        names = np.array(CARRIERS)[carrier]
        mobile = link >= 2
        # weak spots among the places that have mobile terminals (a spot nobody is in shows
        # nothing)
        places = sorted(
            {(str(a), str(c)) for a, c in zip(area[mobile], names[mobile], strict=True)}
        )
        picks = rng.choice(len(places), size=min(WEAK_SPOTS, len(places)), replace=False)
        spots = tuple(places[p] for p in sorted(picks.tolist()))
        weak = np.zeros(n, dtype=bool)
        for a, c in spots:
            weak |= (area == a) & (names == c)
        signal = _SIGNAL_MEAN[link] + rng.normal(0.0, 4.0, n)
        signal[weak & mobile] -= WEAK_SPOT_DB
        signal[weak & (link == 1)] -= WEAK_SPOT_DB / 2
        degrading = np.zeros(n, dtype=bool)
        if spots:
            a, c = spots[0]
            degrading = (area == a) & (names == c) & mobile
        backup = rng.random(n) < BACKUP_SHARE
        return cls(link, carrier, signal, degrading, backup, spots, rng)

    def link_names(self) -> list[str]:
        return [LINKS[i] for i in self.link.tolist()]

    def _signal_now(self, idx: NDArray[np.intp], week: float) -> NDArray[np.float64]:
        s = self.signal_mean[idx] + self.rng.normal(0.0, 3.0, idx.size)
        return s - np.where(self.degrading[idx], DEGRADING_DB_PER_WEEK * week, 0.0)

    def _weak(self, idx: NDArray[np.intp], signal: NDArray[np.float64]) -> NDArray[np.bool_]:
        link = self.link[idx]
        weak: NDArray[np.bool_] = ((link >= 2) & (signal < WEAK_MOBILE_DBM)) | (
            (link == 1) & (signal < WEAK_WIFI_DBM)
        )
        return weak

    def heartbeat_data(self, idx: NDArray[np.intp], *, week: float) -> list[dict[str, Any]]:
        """One heartbeat's network fields for each terminal of ``idx``."""
        signal = self._signal_now(idx, week)
        weak = self._weak(idx, signal)
        link = self.link[idx]
        rtt = _RTT_MS[link] * self.rng.lognormal(0.0, 0.35, idx.size) * np.where(weak, 2.5, 1.0)
        failover = self.backup[idx] & (self.rng.random(idx.size) < np.where(weak, 0.25, 0.02))
        out: list[dict[str, Any]] = []
        for k, (li, ci) in enumerate(zip(link.tolist(), self.carrier[idx].tolist(), strict=True)):
            d: dict[str, Any] = {
                "link": LINKS[li],
                "carrier": CARRIERS[ci],
                "rtt_ms": round(float(rtt[k]), 1),
                "failover": bool(failover[k]),
            }
            if li != 0:
                d["signal_dbm"] = round(float(signal[k]))
            out.append(d)
        return out

    def heartbeat_of(self, index: int, week: float = 0.0) -> dict[str, Any]:
        """The link, carrier and signal of one heartbeat of the terminal at ``index`` (the demo's
        virtual terminals measure their round trip and failover on their real host link)."""
        fields = self.heartbeat_data(np.array([index]), week=week)[0]
        return {k: v for k, v in fields.items() if k in ("link", "carrier", "signal_dbm")}

    def failures(
        self, idx: NDArray[np.intp], *, week: float
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Of the attempts of ``idx``, the ones that time out and the ones that are reset."""
        if idx.size == 0:
            return idx, idx
        signal = self._signal_now(idx, week)
        factor = np.where(self._weak(idx, signal), 8.0, 1.0)
        link = self.link[idx]
        roll = self.rng.random(idx.size)
        p_timeout = _P_TIMEOUT[link] * factor
        timeout = roll < p_timeout
        reset = ~timeout & (roll < p_timeout + _P_RESET[link] * factor)
        return idx[timeout], idx[reset]
