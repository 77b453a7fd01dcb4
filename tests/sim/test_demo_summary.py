"""The demo's closing report as people read it: at 80 columns (CI logs, `| tee`) and at 120,
every catalog code, terminal count and path comes out whole, never cut to ``PRN.PAPER…``."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from posguard.sim.demo_cli import _summary
from posguard.sim.live import progress_line
from posguard.sim.report import DemoReport, FaultVerdict
from posguard.sim.stats import DemoStats

CODES = ("PRN.PAPER_OUT", "NET.READ_TIMEOUT", "TXN.ISSUER_UNAVAILABLE", "REG.FEE_RATE_CHANGED")


def _report() -> DemoReport:
    faults = [
        FaultVerdict(
            fault=name,
            code=code,
            at_s=1.0,
            for_s=2.0,
            note="n",
            terminals=[f"T{i:07d}" for i in range(n)],
            handled=True,
            how="4 printers reported it, slips held in the print queue, 4 cleared",
            incidents=[1, 2],
            evidence={},
        )
        for name, code, n in zip(
            ("paper_out", "response_drop", "issuer_outage", "fee_rate_change"),
            CODES,
            (4, 3, 24, 2),
            strict=True,
        )
    ]
    out = "/work/main/var/demo-20261202T073241Z"
    return DemoReport(
        out_dir=out, timeline="default", duration_s=60, wall_s=66, stopped_early=False,
        terminals=24, dashboard_url="http://127.0.0.1:1", transactions={"approved": 474},
        amount_approved_fen=7_115_008, declines={}, faults_seen={}, reversals={"acknowledged": 2},
        reversals_left=0, faults=faults, incidents=[{"status": "resolved"}], fleet_events={},
        telemetry_left=0,
        reconciliation={"host_rows": 505, "journal_rows": 515, "terminals": 24,
                        "differences": 0, "exceptions": 0},
        light=None, settlement={"balanced": 24, "terminals": 24}, fee_audit=None,
        pan_scan={"clear_pans_found": 0},
        databases={"fleet": f"{out}/fleet.db", "host_ledger": f"{out}/host-ledger.db"},
    )  # fmt: skip


@pytest.mark.parametrize("width", [80, 120])
def test_the_report_keeps_codes_counts_and_paths_whole(width: int) -> None:
    buf = io.StringIO()
    _summary(Console(file=buf, width=width, force_terminal=False, color_system=None), _report())
    text = buf.getvalue()
    assert "…" not in text
    for code in CODES:
        assert code in text
    assert "/work/main/var/demo-20261202T073241Z/host-ledger.db" in text
    assert re.search(r"\b0\s+differences", text)
    assert re.search(r"\b0\s+host\s+exceptions", text)
    assert max(Console(width=999).measure(line).maximum for line in text.splitlines()) <= width


def test_progress_lines_fit_80_columns() -> None:
    stats = DemoStats()
    # the default story's scale (24 terminals, 60 s): hundreds of sales, a few dozen declines
    stats.outcomes.update({"approved": 4_740, "declined": 390, "reversed": 20})
    line = progress_line(stats, [], [], t=59.6, duration=60)
    assert line.startswith(" 60/60s 4740 approved, 390 declined, 20 reversed; ")
    assert len(line) <= 80


def test_a_sale_declined_by_the_session_makes_the_run_not_clean() -> None:
    """ "Clean" can fail: an A0 (MAC) or 77 (not signed on) decline is no story's fault."""
    r = _report()
    assert r.clean
    r.declines = {"TXN.ISSUER_UNAVAILABLE": 28, "TXN.MAC_ERROR": 1}
    assert r.session_declines == 1
    assert not r.clean
    buf = io.StringIO()
    _summary(Console(file=buf, width=120, force_terminal=False, color_system=None), r)
    assert "1 sales declined by the terminals' own host session" in buf.getvalue()
    assert "NOT clean" in buf.getvalue()
