"""Brand figures against a small fleet worked out by hand."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from posguard.merchant.brands import RankingRule, rank, warranty_status
from posguard.merchant.fleet_records import FleetRecords

AS_OF = date(2026, 1, 1)  # the period ends at 2026-01-01 00:00


def _fleet() -> FleetRecords:
    terminals: list[dict[str, Any]] = [
        # Alpha: A1 365 days = 1.0 terminal-year, A2 730 days = 2.0 -> 3.0 terminal-years
        {"terminal_id": "A1", "brand": "Alpha", "model": "P1", "installed_on": "2025-01-01",
         "warranty_end": "2026-01-20"},  # ends in 19 days
        {"terminal_id": "A2", "brand": "Alpha", "model": "P2", "installed_on": "2024-01-02",
         "warranty_end": "2025-12-31"},  # expired
        # Beta: 1.0 + 1.0 = 2.0 terminal-years
        {"terminal_id": "B1", "brand": "Beta", "model": "Q1", "installed_on": "2025-01-01",
         "warranty_end": "2027-01-01"},
        {"terminal_id": "B2", "brand": "Beta", "model": "Q1", "installed_on": "2025-01-01"},
        # Gamma: one terminal, no incident: perfect, and meaningless
        {"terminal_id": "G1", "brand": "Gamma", "model": "Z", "installed_on": "2025-01-01",
         "warranty_end": "2028-01-01"},
        # installed after the period: not counted
        {"terminal_id": "B3", "brand": "Beta", "model": "Q1", "installed_on": "2026-02-01"},
    ]  # fmt: skip
    incidents: list[dict[str, Any]] = [
        # Alpha: repairs 2 h (remote), 24 h (on site), 1 h (remote); acks 0.5 h, 1 h, 0.25 h
        {"incident_id": "a1", "terminal_id": "A1", "opened_at": "2025-03-01T10:00:00",
         "acknowledged_at": "2025-03-01T10:30:00", "resolved_at": "2025-03-01T12:00:00",
         "resolution": "remote"},
        {"incident_id": "a2", "terminal_id": "A2", "opened_at": "2025-06-01T09:00:00",
         "acknowledged_at": "2025-06-01T10:00:00", "resolved_at": "2025-06-02T09:00:00",
         "resolution": "on_site"},
        {"incident_id": "a3", "terminal_id": "A2", "opened_at": "2025-09-01T08:00:00",
         "acknowledged_at": "2025-09-01T08:15:00", "resolved_at": "2025-09-01T09:00:00",
         "resolution": "remote"},
        # Beta: one 4 h remote fix, one still open for the last 12 h of the period
        {"incident_id": "b1", "terminal_id": "B1", "opened_at": "2025-02-01T00:00:00",
         "resolved_at": "2025-02-01T04:00:00", "resolution": "remote"},
        {"incident_id": "b2", "terminal_id": "B2", "opened_at": "2025-12-31T12:00:00"},
        # opened after the period: not counted
        {"incident_id": "b3", "terminal_id": "B2", "opened_at": "2026-01-01T00:00:00"},
    ]  # fmt: skip
    return FleetRecords.model_validate({"terminals": terminals, "incidents": incidents})


def test_brand_figures_match_the_hand_computation() -> None:
    ranking = rank(_fleet(), as_of=AS_OF, rule=RankingRule(min_terminals=2, min_terminal_years=1))
    alpha, beta = (next(s for s in ranking.ranked if s.brand == b) for b in ("Alpha", "Beta"))

    assert alpha.terminals == 2
    assert alpha.terminal_years == pytest.approx(3.0)
    assert alpha.incidents == 3
    assert alpha.failures_per_terminal_year == pytest.approx(1.0)  # 3 / 3
    assert alpha.mttr_hours == pytest.approx(9.0)  # (2 + 24 + 1) / 3
    assert alpha.mtta_hours == pytest.approx(0.5833333)  # (0.5 + 1 + 0.25) / 3
    assert alpha.remote_share == pytest.approx(2 / 3)
    assert alpha.downtime_hours_per_terminal_year == pytest.approx(9.0)  # 27 h / 3
    assert (alpha.in_warranty, alpha.warranty_ending_30d) == (1, 1)

    assert beta.terminals == 2  # B3 came after the period
    assert beta.terminal_years == pytest.approx(2.0)
    assert beta.incidents == 2  # b3 came after the period
    assert (beta.resolved, beta.open) == (1, 1)
    assert beta.failures_per_terminal_year == pytest.approx(1.0)  # 2 / 2
    assert beta.mttr_hours == pytest.approx(4.0)  # only b1 is resolved
    assert beta.mtta_hours is None  # nobody acknowledged
    assert beta.remote_share == pytest.approx(1.0)
    assert beta.downtime_hours_per_terminal_year == pytest.approx(8.0)  # (4 + 12) / 2

    # same failure rate, Beta is down fewer hours per terminal-year: Beta first
    assert [(s.rank, s.brand) for s in ranking.ranked] == [(1, "Beta"), (2, "Alpha")]
    # Gamma: zero failures, but one terminal: listed apart, never ranked
    assert [(s.brand, s.rank, s.failures_per_terminal_year) for s in ranking.insufficient] == [
        ("Gamma", None, 0.0)
    ]


def test_default_rule_keeps_small_brands_off_the_chart() -> None:
    ranking = rank(_fleet(), as_of=AS_OF)
    assert ranking.ranked == ()
    assert {s.brand for s in ranking.insufficient} == {"Alpha", "Beta", "Gamma"}


def test_by_model() -> None:
    ranking = rank(
        _fleet(),
        as_of=AS_OF,
        by_model=True,
        rule=RankingRule(min_terminals=1, min_terminal_years=1),
    )
    p2 = next(s for s in ranking.ranked if s.name == "Alpha P2")
    assert (p2.terminals, p2.terminal_years, p2.incidents) == (1, pytest.approx(2.0), 2)
    assert p2.mttr_hours == pytest.approx(12.5)  # (24 + 1) / 2


def test_warranty_status_per_terminal() -> None:
    status = {w.terminal_id: w.status for w in warranty_status(_fleet(), as_of=AS_OF)}
    assert status == {
        "A1": "ending_soon", "A2": "expired", "B1": "in_warranty", "B2": "unknown",
        "G1": "in_warranty", "B3": "unknown",
    }  # fmt: skip


def test_inconsistent_records_are_refused() -> None:
    from posguard.merchant.errors import MerchantDataError
    from posguard.merchant.yamlio import validate

    raw = {"terminals": [{"terminal_id": "T", "brand": "X", "model": "Y",
                          "installed_on": "2025-01-01"}],
           "incidents": [{"incident_id": "i", "terminal_id": "nope",
                          "opened_at": "2025-01-02T00:00:00"}]}  # fmt: skip
    with pytest.raises(MerchantDataError, match="unknown terminal nope"):
        validate(FleetRecords, raw, source="fleet.json")
