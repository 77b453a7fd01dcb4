"""The light fleet's wear model and the year's replay: parts wear with use and show it before
they fail, the counters are the heartbeat's, and the replay's figures are reproducible and
measure what they claim."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from posguard.common.events import WEAR_COUNTERS, WearCounters
from posguard.fleet.prediction.series import Sample, daily_counts
from posguard.sim.wear import WearFleet
from posguard.sim.wear_replay import replay


def test_symptoms_rise_before_a_warned_failure_and_not_before_a_sudden_one() -> None:
    fleet = WearFleet(terminals=300, seed=4)
    days = [fleet.step() for _ in range(150)]
    assert {f.part for f in fleet.failures} == {"printer", "card_reader"}
    share = {
        t: np.array([d["card_read_failures"][t] / max(d["card_reads"][t], 1) for d in days])
        for t in range(300)
    }
    rose, flat = [], []
    for f in fleet.failures:
        day = int(f.at)
        if f.part != "card_reader" or day < 30:
            continue
        before = share[f.terminal][day - 25 : day - 12].mean()
        last = share[f.terminal][day - 2 : day].mean()
        (rose if f.warned else flat).append(last / max(before, 1e-3))
    assert rose, "no warned reader failure in 150 days"
    assert np.median(rose) > 3  # wear shows: the failure share climbs before the end
    assert all(r < 3 for r in flat)  # a sudden failure gives no warning


def test_counters_are_the_heartbeats_and_busier_shops_use_more() -> None:
    fleet = WearFleet(terminals=200, seed=5)
    day = fleet.step()
    assert set(day) == set(WEAR_COUNTERS)
    WearCounters.model_validate({k: int(v[0]) for k, v in day.items()})
    busy = fleet.sales_mean > np.median(fleet.sales_mean)
    assert day["printer_lines"][busy].mean() > 1.5 * day["printer_lines"][~busy].mean()


def test_the_fleet_reads_the_model_as_the_model_counted() -> None:
    """Cumulative heartbeat counters built from the model's days give back the same daily
    counts through the fleet's ``daily_counts`` (the bench and the fleet read the same data)."""
    fleet = WearFleet(terminals=3, seed=6)
    days = [fleet.step() for _ in range(10)]
    t0 = datetime(2026, 1, 1, 23, tzinfo=UTC)
    total = dict.fromkeys(WEAR_COUNTERS, 0.0)
    samples = [Sample(t0 - timedelta(days=1), dict(total))]
    for i, d in enumerate(days):
        total = {n: total[n] + float(d[n][1]) for n in WEAR_COUNTERS}
        samples.append(Sample(t0 + timedelta(days=i), dict(total)))
    got = daily_counts(samples, end=t0 + timedelta(days=9, hours=1), days=10)  # Jan 1-10
    for name in WEAR_COUNTERS:
        assert got.counts[name].tolist() == [float(d[name][1]) for d in days], name


def test_replay_is_reproducible_and_beats_fixed_interval_inspections() -> None:
    a = replay(terminals=40, seed=9, days=100)
    b = replay(terminals=40, seed=9, days=100)
    fixed = replay(terminals=40, seed=9, days=100, policy="fixed")
    assert (a.visits, a.wasted, a.caught, a.failed) == (b.visits, b.wasted, b.caught, b.failed)
    assert a.failures > 10
    assert a.recall > fixed.recall
    assert a.wasted_share < fixed.wasted_share
    assert abs(fixed.visits - 40 * 100 / 90) <= 40  # each terminal every 90 days
    # every failure is counted once: caught (in time or late) or happened
    assert a.failures == a.caught + a.caught_late + a.failed
    assert len(a.leads_h) == a.caught
    assert all(h >= 24 for h in a.leads_h)
