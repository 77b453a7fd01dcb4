"""Wear models for the light fleet: printers and card readers degrade with use, with noise.

One step is one day for every terminal at once (NumPy arrays). Each terminal has a daily
volume (log-normal across shops, weekly rhythm, Poisson from day to day) and, per part
(thermal printer, card reader), a life left counted in transactions. In the last
``window`` days of a part's life (4 to 21 days, per part) its symptoms rise with the square of
its wear: overheats and cutter jams per line printed, failed reads and chip fallbacks per card.
A share of parts (``sudden_share``) fail with no warning at all. Noise that is *not* wear:
each shop's own read-failure level (its staff), episodes of clumsy swiping (a new cashier,
1-6 days) and of poor paper (overheats, 2-7 days), paper running out, rare watchdog
restarts. The counters are the heartbeat's ``WearCounters``; :meth:`WearFleet.step` returns
each counter's growth that day, the fleet's scoring reads exactly that.

Ground truth stays inside the model (``life_left``, ``window``): the replay
(``wear_replay.py``) asks it whether a part a technician looks at is worn.

>>> fleet = WearFleet(terminals=50, seed=2)
>>> day = fleet.step()
>>> sorted(day)[:3], day["card_reads"].shape
(['boots', 'card_read_failures', 'card_reads'], (50,))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from posguard.common.events import WEAR_COUNTERS

PARTS: tuple[str, ...] = ("printer", "card_reader")
LINES_PER_SALE = 38  # two copies of a ~19-line slip
LINES_PER_ROLL = 9000


@dataclass(frozen=True, slots=True)
class Failure:
    terminal: int
    part: str
    at: float  # days since the model started
    warned: bool  # False: a sudden failure with no symptoms before it


class WearFleet:
    """``terminals`` terminals, all parts' lives and the day's counters, seeded."""

    def __init__(
        self,
        *,
        terminals: int,
        seed: int = 1,
        mean_sales: float = 70.0,
        life_scale_sales: float = 60_000.0,
        sudden_share: float = 0.1,
    ) -> None:
        self.n = terminals
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        self.day = 0
        self.life_scale = life_scale_sales
        self.sudden_share = sudden_share
        self.sales_mean = mean_sales * rng.lognormal(-0.18, 0.6, terminals)
        self.read_base = rng.beta(2.0, 110.0, terminals)  # ~1.8 % failed reads, by shop
        self.fallback_base = rng.beta(1.5, 400.0, terminals)
        self.overheat_base = rng.gamma(2.0, 0.012, terminals)  # per 1,000 lines
        self.jam_base = rng.gamma(2.0, 0.008, terminals)
        self.life = {p: np.zeros(terminals) for p in PARTS}
        self.window = {p: np.zeros(terminals) for p in PARTS}
        self.severity = {p: np.zeros(terminals) for p in PARTS}
        for part in PARTS:
            self._new_parts(part, np.arange(terminals), aged=True)
        self.clumsy_left = np.zeros(terminals, dtype=np.int64)
        self.clumsy_factor = np.ones(terminals)
        self.paper_left = np.zeros(terminals, dtype=np.int64)
        self.paper_factor = np.ones(terminals)
        self.failures: list[Failure] = []

    # -- parts ------------------------------------------------------------------------------
    def _new_parts(self, part: str, idx: NDArray[np.intp], *, aged: bool = False) -> None:
        rng = self.rng
        k = idx.size
        life = self.life_scale * rng.weibull(2.0, k)
        if aged:  # the estate is not new: each part somewhere in its life
            life *= rng.uniform(0.05, 1.0, k)
        self.life[part][idx] = life
        self.window[part][idx] = rng.uniform(4.0, 21.0, k)
        sudden = rng.random(k) < self.sudden_share
        self.severity[part][idx] = np.where(sudden, 0.0, rng.uniform(0.6, 1.4, k))

    def wear(self, part: str) -> NDArray[np.float64]:
        """0 (healthy) .. 1 (failing now): how far each part is into its last ``window`` days."""
        days_left = self.life[part] / self.sales_mean
        w = np.clip(1.0 - days_left / self.window[part], 0.0, 1.0)
        return np.where(self.severity[part] > 0, w, 0.0)

    def days_to_failure(self, part: str) -> NDArray[np.float64]:
        return np.asarray(self.life[part] / self.sales_mean, dtype=np.float64)

    def is_worn(
        self, part: str, idx: NDArray[np.intp], *, grace_days: float = 3.0
    ) -> NDArray[np.bool_]:
        """What a technician at these terminals would find: the part visibly wearing (in its
        last window of life, or failing within ``grace_days``), sudden failures included
        only in that last stretch."""
        left = self.days_to_failure(part)[idx]
        return np.asarray(
            left <= np.where(self.severity[part][idx] > 0, self.window[part][idx], 0) + grace_days
        )

    def set_life(
        self, part: str, idx: NDArray[np.intp], *, days: float, window: float = 14.0
    ) -> None:
        """These terminals' ``part`` fails in ``days`` days of their usual use, its symptoms
        rising over its last ``window`` days (a wearing part on purpose: tests, stories)."""
        self.life[part][idx] = days * self.sales_mean[idx]
        self.window[part][idx] = window
        self.severity[part][idx] = 1.0

    def replace(self, part: str, idx: NDArray[np.intp]) -> None:
        self._new_parts(part, np.asarray(idx, dtype=np.intp))

    # -- one day ----------------------------------------------------------------------------
    def step(self) -> dict[str, NDArray[np.float64]]:
        """Play one day; the growth of every wear counter that day, per terminal."""
        rng = self.rng
        n = self.n
        weekly = 1.25 if self.day % 7 in (5, 6) else 0.9
        sales = rng.poisson(self.sales_mean * weekly).astype(float)
        w_prn = self.wear("printer")
        w_rdr = self.wear("card_reader")
        self._episodes()
        reads = sales + rng.binomial(sales.astype(np.int64), 0.05)  # a second card, a retry
        p_fail = np.clip(
            self.read_base * self.clumsy_factor + 0.22 * self.severity["card_reader"] * w_rdr**2,
            0,
            0.9,
        )
        p_fb = np.clip(self.fallback_base + 0.08 * self.severity["card_reader"] * w_rdr**2, 0, 0.9)
        lines = sales * LINES_PER_SALE + rng.poisson(20, n)  # settlement slips, reports
        heat = self.overheat_base * self.paper_factor + 2.0 * self.severity["printer"] * w_prn**2
        jam = self.jam_base + 1.0 * self.severity["printer"] * w_prn**2
        restarts = rng.poisson(0.01, n).astype(float)
        day = {
            "printer_lines": lines,
            "printer_cuts": sales * 2 + rng.poisson(1, n),
            "printer_paper_out": rng.poisson(lines / LINES_PER_ROLL).astype(float),
            "printer_overheat": rng.poisson(heat * lines / 1000).astype(float),
            "printer_cutter_jam": rng.poisson(jam * lines / 1000).astype(float),
            "card_reads": reads,
            "card_read_failures": rng.binomial(reads.astype(np.int64), p_fail).astype(float),
            "chip_fallbacks": rng.binomial(reads.astype(np.int64), p_fb).astype(float),
            "boots": restarts + rng.poisson(0.03, n),
            "watchdog_restarts": restarts,
        }
        assert set(day) == set(WEAR_COUNTERS)
        self._use(sales)
        self.day += 1
        return day

    def _episodes(self) -> None:
        """Noise that is not wear: clumsy swiping and poor paper, for a few days each."""
        rng = self.rng
        n = self.n
        self.clumsy_left = np.maximum(self.clumsy_left - 1, 0)
        start = (self.clumsy_left == 0) & (rng.random(n) < 1 / 60)
        self.clumsy_left[start] = rng.integers(1, 7, int(start.sum()))
        self.clumsy_factor = np.where(
            self.clumsy_left > 0,
            np.where(start, rng.uniform(1.5, 3.5, n), self.clumsy_factor),
            1.0,
        )
        self.paper_left = np.maximum(self.paper_left - 1, 0)
        start = (self.paper_left == 0) & (rng.random(n) < 1 / 120)
        self.paper_left[start] = rng.integers(2, 8, int(start.sum()))
        self.paper_factor = np.where(
            self.paper_left > 0, np.where(start, rng.uniform(2.0, 4.0, n), self.paper_factor), 1.0
        )

    def _use(self, sales: NDArray[np.float64]) -> None:
        for part in PARTS:
            before = self.life[part]
            after = before - sales
            dead = np.flatnonzero(after <= 0)
            for t in dead:
                frac = before[t] / max(sales[t], 1.0)
                self.failures.append(
                    Failure(int(t), part, self.day + float(frac), bool(self.severity[part][t] > 0))
                )
            self.life[part] = after
            if dead.size:
                self._new_parts(part, dead)
