"""Models no longer permitted and lapsed certifications are flagged with date and action."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from posguard.merchant.errors import MerchantDataError
from posguard.merchant.fleet_records import FleetTerminal
from posguard.merchant.regulation import check_terminals, default_registry, load_registry

AS_OF = date(2026, 11, 25)


def term(tid: str, brand: str, model: str) -> FleetTerminal:
    return FleetTerminal(terminal_id=tid, brand=brand, model=model, installed_on=date(2022, 1, 1))


def test_each_rule_flags_the_right_terminals() -> None:
    terminals = [
        term("T1", "Lotus", "L100"),  # PCI PTS 4.x: expired 2024-04-30 (version policy)
        term("T2", "lotus", "l300"),  # PCI PTS 5.x: expired 2026-04-30; case-insensitive match
        term("T3", "Lotus", "L500"),  # fine
        term("T4", "Harbor", "H2"),  # not permitted since 2024-07-01
        term("T5", "Harbor", "H7"),  # acquirer certification ends 2026-12-15: within 90 days
        term("T6", "Nobody", "X1"),  # not in the list
    ]
    report = check_terminals(terminals, as_of=AS_OF)
    got = [(f.subject, f.code, f.kind, f.since) for f in report.findings]
    assert got == [
        ("T1", "REG.CERTIFICATE_EXPIRED", "certificate_expired", date(2024, 4, 30)),
        ("T2", "REG.CERTIFICATE_EXPIRED", "certificate_expired", date(2026, 4, 30)),
        ("T4", "REG.MODEL_NOT_PERMITTED", "model_not_permitted", date(2024, 7, 1)),
        ("T5", "REG.CERTIFICATE_EXPIRED", "certificate_expiring", date(2026, 12, 15)),
    ]
    assert report.unknown_models == ("T6",)
    by_id = {f.subject: f for f in report.findings}
    assert "no new units" in by_id["T1"].action.en.lower()
    assert "不能新增布放" in by_id["T1"].action.zh
    assert "2G" in by_id["T4"].detail.en
    assert by_id["T4"].severity.value == "critical"
    assert "expires on 2026-12-15" in by_id["T5"].title.en


def test_before_the_dates_only_what_had_lapsed_is_flagged() -> None:
    terminals = [term("T1", "Lotus", "L100"), term("T4", "Harbor", "H2")]
    report = check_terminals(terminals, as_of=date(2022, 6, 1), warn_days=0)
    # L100 (PTS 4.x) was still approved; H2 was permitted, but its PTS 3.x had expired
    assert [(f.subject, f.kind) for f in report.findings] == [("T4", "certificate_expired")]


def test_pci_pts_version_expiries_are_the_published_ones() -> None:
    """PCI SSC, FAQ 1322 "What are the expiry dates for PTS POI device approvals?": v1.x
    April 2014, v2.x April 2017, v3.x 30 April 2021 (moved from 2020 by the PCI SSC bulletin
    of 10 March 2020), v4.x 30 April 2024 (moved from 2023 by the PCI SSC press release of
    9 December 2022), v5.x April 2026."""
    assert default_registry().pci_pts_version_expiry == {
        "1": date(2014, 4, 30),
        "2": date(2017, 4, 30),
        "3": date(2021, 4, 30),
        "4": date(2024, 4, 30),
        "5": date(2026, 4, 30),
    }


@pytest.mark.parametrize(
    ("model", "last_approved_day"),
    [("L100", date(2024, 4, 30)), ("H2", date(2021, 4, 30))],  # PTS POI 4.x and 3.x
)
def test_an_approval_lapses_the_day_after_its_published_expiry(
    model: str, last_approved_day: date
) -> None:
    brand = "Lotus" if model == "L100" else "Harbor"
    terminals = [term("T1", brand, model)]
    on_the_day = check_terminals(terminals, as_of=last_approved_day, warn_days=0)
    assert [f.kind for f in on_the_day.findings] == ["certificate_expiring"]
    day_after = check_terminals(terminals, as_of=last_approved_day + timedelta(days=1), warn_days=0)
    assert [(f.kind, f.since) for f in day_after.findings] == [
        ("certificate_expired", last_approved_day)
    ]


def test_pci_expiry_falls_back_to_the_version_date() -> None:
    reg = default_registry()
    entry = reg.find("Lotus", "L300")
    assert entry is not None
    assert reg.pci_expiry(entry) == date(2026, 4, 30)


def test_bad_models_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - brand: X\n    model: Y\n    pci_pts: {version: five}\n")
    with pytest.raises(MerchantDataError, match=r"models\.yaml: field 'models\.0\.pci_pts\."):
        load_registry(path)
