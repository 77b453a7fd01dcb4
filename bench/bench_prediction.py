"""Predictive maintenance against fixed-interval inspections, over a simulated year.

**The figures come from a simulation** (``posguard.sim.wear``: printers and card readers that
wear with use, symptoms that rise in a part's last 4-21 days, 10 % of failures with no warning,
and noise that is not wear: each shop's own read-failure level, clumsy-swiping episodes, poor
paper, paper running out, rare restarts), not from a field estate.

One run replays the same estate (same seed) twice (``posguard.sim.wear_replay``):

1. **predictive**: every morning the fleet's risk score (``posguard.fleet.prediction``, default
   ``ScoringParams``) over each terminal's last 28 days of heartbeat counters; a terminal at
   or above the threshold is visited that day;
2. **fixed interval** (the baseline): every terminal inspected every 90 days, spread evenly
   (the maintenance schedule ``posguard.fleet.maintenance`` works this way).

At a visit every visibly wearing part is replaced. Reported per policy: recall (failures
caught ≥ 24 h ahead / all hardware failures, sudden ones included), wasted visits (found
nothing), median lead time, visits per 100 terminals a year. Two estates: a hard-working one
(parts last ~60,000 sales: about half the printers and readers fail within the year) and a
gentler one (~150,000 sales). The score's parameters were set on seed 1 (100 terminals,
180-200 days); the figures here are from the held-out seeds 2 and 3, both reported.

Goal (issue 20): ≥ 70 % of hardware failures caught ≥ 24 h ahead with ≤ 20 % wasted visits.

Run: ``.venv/bin/python -m bench prediction`` (``--quick``: 100 terminals, 180 days, seed 2);
one seed alone: ``.venv/bin/python -m bench.bench_prediction --seed 3`` (two seeds can run in
two processes).
"""

from __future__ import annotations

import argparse
import os
import time

from bench._result import Result
from posguard.sim.wear_replay import ReplayResult, replay

ESTATES = (("hard-working", 60_000.0), ("gentler", 150_000.0))


def _line(tag: str, r: ReplayResult) -> str:
    return (
        f"{tag:<40} {r.policy:<10} visits {r.visits:5d}  wasted {100 * r.wasted_share:5.1f} %  "
        f"recall≥24h {100 * r.recall:5.1f} %  failures {r.failures:4d} (sudden "
        f"{r.failed_sudden}, caught <24h {r.caught_late})  median lead {r.median_lead_h:5.0f} h"
    )


SEEDS = (2, 3)  # held out: the score was set on seed 1


def run(quick: bool = False) -> list[Result]:
    terminals, days, seeds = (100, 180, SEEDS[:1]) if quick else (300, 365, SEEDS)
    return [r for seed in seeds for r in run_seed(seed, terminals=terminals, days=days)]


def run_seed(seed: int, *, terminals: int = 300, days: int = 365) -> list[Result]:
    load = os.getloadavg()[0]
    results: list[Result] = []
    for name, life in ESTATES:
        t0 = time.perf_counter()
        pred = replay(terminals=terminals, seed=seed, days=days, life_scale_sales=life)
        fixed = replay(
            terminals=terminals, seed=seed, days=days, policy="fixed", life_scale_sales=life
        )
        took = time.perf_counter() - t0
        tag = f"{name} (seed {seed}, {terminals} terminals, {days} d)"
        print(_line(tag, pred))
        print(_line(tag, fixed))
        note = f"simulation, seed {seed}, {took:.0f} s, load {load:.1f}"
        per100 = 100 * 365 / (terminals * days)
        results += [
            Result(
                f"{name}, seed {seed}: failures caught ≥24 h ahead",
                100 * pred.recall,
                "%",
                100 * fixed.recall,
                "90-day inspections",
                target="≥ 70 %",
                note=note,
            ),
            Result(
                f"{name}, seed {seed}: wasted visits",
                100 * pred.wasted_share,
                "%",
                100 * fixed.wasted_share,
                "90-day inspections",
                higher_is_better=False,
                target="≤ 20 %",
                note=note,
            ),
            Result(
                f"{name}, seed {seed}: median lead time",
                pred.median_lead_h,
                "h",
                fixed.median_lead_h,
                "90-day inspections",
                note=note,
            ),
            Result(
                f"{name}, seed {seed}: visits per 100 terminals a year",
                pred.visits * per100,
                "visits",
                fixed.visits * per100,
                "90-day inspections",
                higher_is_better=False,
                note=note,
            ),
        ]
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the prediction benchmark for one seed")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--terminals", type=int, default=300)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    for r in run_seed(args.seed, terminals=args.terminals, days=args.days):
        print(f"{r.name}: {r.ours:.1f} {r.unit} (90-day inspections {r.baseline:.1f}) {r.note}")
