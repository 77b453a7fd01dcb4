"""The brand/model after-sales ranking on the dashboard counts incidents up to now (issue #15):
today's incidents count, an open one is down until now, and the figure it ranks by is shown."""

from __future__ import annotations

from datetime import timedelta

from posguard.fleet.db.models import Incident
from posguard.fleet.repo.terminals import add_terminal
from posguard.fleet.web.report_data import brand_ranking

from .conftest import T0, FleetDB


def test_todays_incidents_rank_a_brand_below_a_quiet_one(sqlite_db: FleetDB) -> None:
    now = T0 + timedelta(hours=5)  # 15:00 on the day: the incidents below are all from today
    with sqlite_db.sessions.begin() as s:
        for brand in ("Acme", "Zeta"):  # Acme sorts first by name: it must not win on a tie
            for i in range(3):
                add_terminal(
                    s,
                    terminal_id=f"{brand}-{i}",
                    merchant_id="M1",
                    model="X1",
                    brand=brand,
                    firmware="1",
                    acquirer_host="acq",
                    area="a",
                    now=T0,
                    install_date=(T0 - timedelta(days=730)).date(),
                )
        s.flush()
        s.add_all(
            [
                Incident(
                    rule_id="printer-paper-out",
                    scope="terminal:Acme-0",
                    code="PRN.PAPER_OUT",
                    severity="minor",
                    status="resolved",
                    terminal_id="Acme-0",
                    merchant_id="M1",
                    explanation={},
                    opened_at=T0 + timedelta(hours=1),
                    resolved_at=T0 + timedelta(hours=2),
                    resolved_by="rule",
                ),
                Incident(
                    rule_id="heartbeat-lost",
                    scope="terminal:Acme-1",
                    open_key="heartbeat-lost|terminal:Acme-1",
                    code="DEV.FREEZE",
                    severity="critical",
                    status="open",
                    terminal_id="Acme-1",
                    merchant_id="M1",
                    explanation={},
                    opened_at=T0 + timedelta(hours=3),
                ),
            ]
        )
    with sqlite_db.sessions() as s:
        ranking = brand_ranking(s, merchant_id=None, now=now, by_model=False)
    assert [(g.brand, g.rank) for g in ranking.ranked] == [("Zeta", 1), ("Acme", 2)]
    acme = ranking.ranked[1]
    assert acme.incidents == 2
    assert acme.open == 1
    # 1 h resolved + 2 h open until now, over 6 terminal-years
    assert acme.downtime_hours_per_terminal_year is not None
    assert abs(acme.downtime_hours_per_terminal_year - 3.0 / 6.0) < 1e-9
    assert ranking.ranked[0].downtime_hours_per_terminal_year == 0.0
