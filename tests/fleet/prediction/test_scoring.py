"""The risk score on synthetic counter series: wear is flagged, ordinary noise is not, and every
number of the explanation is the one the statistics give."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from posguard.fleet.prediction.components import CARD_READER, PRINTER
from posguard.fleet.prediction.explain import reasons
from posguard.fleet.prediction.score import (
    ScoringParams,
    score_component,
    score_terminal,
    visit_due,
)
from posguard.fleet.prediction.series import DailyCounts, Sample, daily_counts
from posguard.fleet.prediction.stats import cusum_upper, theil_sen_slope

DAYS = 28
FIRST = date(2026, 11, 1)


def reader_days(
    failures: list[float], reads: float = 400.0, fallbacks: list[float] | None = None
) -> DailyCounts:
    n = len(failures)
    return DailyCounts(
        first_day=FIRST,
        counts={
            "card_reads": np.full(n, reads),
            "card_read_failures": np.asarray(failures, dtype=float),
            "chip_fallbacks": np.zeros(n) if fallbacks is None else np.asarray(fallbacks),
        },
    )


def wear_ramp(rate: float, rise: float, days: int = 8, reads: float = 400.0) -> list[float]:
    """A part's last ``days``: the share climbs with the square of the wear."""
    return [reads * (rate + rise * ((i + 1) / days) ** 2) for i in range(days)]


def worn_reader() -> DailyCounts:
    """Failed reads climb from 2 % to ~20 %, chip fallbacks from 0.4 % to ~8 %, together."""
    return reader_days(
        noisy(0.02, 1, DAYS - 8) + wear_ramp(0.02, 0.18),
        fallbacks=noisy(0.004, 2, DAYS - 8) + wear_ramp(0.004, 0.08),
    )


def noisy(rate: float, seed: int, n: int = DAYS, reads: float = 400.0) -> list[float]:
    rng = np.random.default_rng(seed)
    return rng.binomial(int(reads), rate, n).astype(float).tolist()


def test_theil_sen_ignores_one_wild_point() -> None:
    x = list(range(10))
    y = [2.0 * v + 1 for v in x]
    y[7] = 500.0
    assert theil_sen_slope(x, y) == pytest.approx(2.0)
    # least squares would be pulled far off by that point
    assert np.polyfit(x, y, 1)[0] > 10


def test_theil_sen_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        theil_sen_slope([1, 2, 3], [1, 2])


def test_cusum_finds_the_change_point() -> None:
    z = [0.1, -0.3, 0.2, 0.0, -0.1, 2.5, 2.0, 3.1, 2.7, 2.9]
    result = cusum_upper(z, k=0.5, h=5.0)
    assert result.alarm
    assert result.start == 5
    assert not cusum_upper(z[:5], k=0.5, h=5.0).alarm


def test_steady_reader_is_low_risk() -> None:
    for seed in range(20):
        ev = score_component(reader_days(noisy(0.02, seed)), CARD_READER)
        assert ev is not None
        assert ev.risk < ScoringParams().threshold, (seed, ev)


def test_wearing_reader_is_flagged_with_its_reasons() -> None:
    # last 8 days: failed reads and chip fallbacks climb (wear is a ramp, not a step)
    ev = score_component(worn_reader(), CARD_READER)
    assert ev is not None
    assert ev.risk >= 0.9
    assert ev.recent_rate > 5 * ev.baseline_rate
    assert ev.slope_per_day > 0.01  # the failure share rises more than a point a day
    assert ev.cusum.alarm
    assert ev.change_day is not None
    assert ev.change_day >= FIRST + timedelta(days=DAYS - 10)
    assert ev.terms["trend"] > 0
    assert ev.terms["level"] > 0
    assert ev.terms["change"] > 0
    assert ev.terms["unconfirmed"] == 0.0  # the fallbacks rose too
    assert ev.confirm_recent_rate is not None
    assert ev.confirm_baseline_rate is not None
    assert ev.confirm_recent_rate > 5 * ev.confirm_baseline_rate
    why = reasons(ev)
    assert [r.term for r in why][-1] == "confirmed"
    assert "chip fallbacks per read up too" in why[-1].text.en
    assert "降级刷卡占读卡次数同步上升" in why[-1].text.zh


def test_failed_reads_rising_alone_are_handling_not_a_worn_reader() -> None:
    """A new cashier swiping badly: failed reads go 2.5x for a few days, as they would early in
    a reader's wear, but chip fallbacks (which only worn chip contacts raise, docs/events.md)
    stay as they were: the score lowers the risk and says why."""
    clumsy = reader_days(noisy(0.02, 1, DAYS - 5) + noisy(0.05, 6, 5), fallbacks=noisy(0.004, 2))
    ev = score_component(clumsy, CARD_READER)
    blind = score_component(clumsy, CARD_READER, params=ScoringParams(w_unconfirmed=0.0))
    assert ev is not None
    assert blind is not None
    assert blind.risk >= ScoringParams().threshold  # counting failed reads alone: a visit
    assert ev.terms["level"] > 0
    assert ev.confirm_z is not None
    assert ev.confirm_z < 1.0  # not backed by the fallbacks: the risk is lowered
    p = ScoringParams()
    assert ev.terms["unconfirmed"] == pytest.approx(
        -p.w_unconfirmed * (1 - max(ev.confirm_z, 0) / p.confirm_z), abs=1e-3
    )
    assert ev.risk < p.threshold
    why = reasons(ev)
    assert why[-1].term == "unconfirmed"
    assert why[-1].weight < 0
    assert "chip fallbacks per read did not clearly rise" in why[-1].text.en
    assert "降级刷卡占读卡次数未明显上升" in why[-1].text.zh


def test_one_bad_day_is_not_wear() -> None:
    days = noisy(0.02, 3)
    days[-6] = 60.0  # one terrible day (15 %) a week ago, then back to normal
    ev = score_component(reader_days(days), CARD_READER)
    assert ev is not None
    assert ev.risk < ScoringParams().threshold


def test_a_fault_or_two_on_a_quiet_printer_is_not_a_level() -> None:
    n = DAYS
    counts = {
        "printer_lines": np.full(n, 300.0),
        "printer_overheat": np.zeros(n),
        "printer_cutter_jam": np.zeros(n),
    }
    counts["printer_overheat"][-1] = 1.0
    ev = score_component(DailyCounts(FIRST, counts), PRINTER)
    assert ev is not None
    assert ev.recent_rate > 1.0  # 1 per 900 lines looks huge as a rate ...
    assert ev.terms["level"] == 0.0  # ... but one fault is not a level
    assert ev.risk < ScoringParams().threshold


def test_incident_history_raises_the_risk() -> None:
    days = reader_days(noisy(0.02, 5))
    quiet = score_component(days, CARD_READER, incidents=0)
    busy = score_component(days, CARD_READER, incidents=3)
    assert quiet is not None
    assert busy is not None
    assert busy.risk > quiet.risk
    assert busy.terms["incidents"] == pytest.approx(3 * ScoringParams().w_incidents)


def test_terminal_without_counters_has_no_score() -> None:
    empty = DailyCounts(FIRST, {"card_reads": np.full(DAYS, np.nan)})
    assert score_terminal("T1", empty) is None


def test_terminal_risk_is_its_riskiest_component() -> None:
    base = noisy(0.02, 1, DAYS - 8)
    ramp = [400 * (0.02 + 0.18 * ((i + 1) / 8) ** 2) for i in range(8)]
    counts = dict(reader_days(base + ramp).counts)
    counts.update(
        printer_lines=np.full(DAYS, 3000.0),
        printer_overheat=np.zeros(DAYS),
        printer_cutter_jam=np.zeros(DAYS),
    )
    risk = score_terminal("T1", DailyCounts(FIRST, counts))
    assert risk is not None
    assert risk.component == "card_reader"
    assert next(e.component for e in risk.evidence) == "card_reader"
    assert risk.evidence[-1].risk <= risk.risk


def test_persistence_needs_the_mornings_before() -> None:
    base = noisy(0.02, 1, DAYS - 1)
    step = [*base, 400 * 0.25]  # only today is bad
    due1, _ = visit_due("T1", reader_days(step), params=ScoringParams(persist_days=1))
    due2, today = visit_due("T1", reader_days(step), params=ScoringParams(persist_days=2))
    assert today is not None
    assert due1 == (today.risk >= ScoringParams().threshold)
    assert not due2


def test_daily_counts_from_heartbeats_handle_gaps_and_resets() -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    samples = [
        Sample(t0 + timedelta(hours=h), {"card_reads": float(10 * h)}) for h in range(0, 48, 6)
    ]
    # day 3 unobserved, then the counter store was reset on day 4
    samples.append(Sample(t0 + timedelta(days=4, hours=1), {"card_reads": 7.0}))
    samples.append(Sample(t0 + timedelta(days=4, hours=20), {"card_reads": 20.0}))
    out = daily_counts(samples, end=t0 + timedelta(days=5), days=5).counts["card_reads"]
    assert out[0] == 180.0  # 0 -> 180 within day 1 (the first sample has no "before")
    assert out[1] == 240.0  # 180 -> 420 (the 00:00 sample counts the growth since 18:00)
    assert np.isnan(out[2])
    assert np.isnan(out[3])
    assert out[4] == 7.0 + 13.0  # the reset: 7 counted since it, then 13 more


def test_a_wasted_visit_raises_the_bar_for_a_while() -> None:
    base = noisy(0.02, 1, DAYS - 8)
    ramp = [400 * (0.02 + 0.18 * ((i + 1) / 8) ** 2) for i in range(8)]
    days = reader_days(base + ramp)
    risk = score_terminal("T1", days)
    assert risk is not None
    params = ScoringParams(threshold=risk.risk - 0.01, threshold_after_wasted=risk.risk + 0.001)
    assert visit_due("T1", days, params=params)[0]
    assert not visit_due("T1", days, recently_wasted=True, params=params)[0]
