"""`posguard demo` end to end, headless, as a person would run it (a real process, real sockets,
real SQLite): the default story played in 20 s, then the report it leaves is checked; and a
Ctrl-C in the middle still ends cleanly with a report."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from posguard.sim.cardbook import CardBook
from posguard.sim.timeline import FaultKind, load_timeline

PANS = CardBook.default().pans()


def _demo(out: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "posguard.cli",
        "demo",
        "--headless",
        "--out",
        str(out),
        *args,
    ]


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    out = tmp_path_factory.mktemp("demo")
    proc = subprocess.run(
        _demo(out, "--duration", "20", "--terminals", "12"),
        capture_output=True,
        text=True,
        timeout=110,
        env={**os.environ, "COLUMNS": "160"},
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return report, output, out


def test_every_fault_of_the_story_is_injected_and_accounted_for(
    played: tuple[dict[str, Any], str, Path],
) -> None:
    report, _, _ = played
    story = [e.fault.value for e in load_timeline().events]
    assert [f["fault"] for f in report["faults"]] == story
    for f in report["faults"]:
        assert f["terminals"], f"{f['fault']} hit no terminal"
        assert f["accounted"], f"{f['fault']} neither handled nor an incident: {f}"
    by = {f["fault"]: f for f in report["faults"]}
    # the answers the proxy swallowed were reversed, none is left pending
    assert report["reversals"]["acknowledged"] >= 1
    assert report["reversals"]["acknowledged"] == report["reversals"]["queued"]
    assert report["reversals_left"] == 0
    # a sale whose answer was lost is answered "pending reversal" at the read timeout and
    # reversed right after, in the background (issue #13); both end acknowledged (above)
    txns = report["transactions"]
    assert txns.get("reversed", 0) + txns.get("pending_reversal", 0) >= 1
    # the host outage became a host-level incident in the fleet
    assert by[FaultKind.HOST_OUTAGE.value]["incidents"]
    outage = [i for i in report["incidents"] if i["rule"] == "network-outage"]
    assert any(i["scope"] == "host:cup-sh" for i in outage)
    # the outage drops the SYNs: the terminals see connect timeouts (nothing sent, so no
    # reversal) and the host's incident names them; every reversal comes from an answer that
    # may have been delivered (a read timeout or a reset), none from a connect that failed
    assert by[FaultKind.HOST_OUTAGE.value]["evidence"]["faults"]["NET.CONNECT_TIMEOUT"] >= 1
    # the host incident carries its own code (host unreachable), not a terminal's fault code
    assert any(i["scope"] == "host:cup-sh" and i["code"] == "NET.HOST_UNREACHABLE" for i in outage)
    seen = report["faults_seen"]
    maybe_delivered = seen.get("NET.READ_TIMEOUT", 0) + seen.get("NET.CONNECTION_RESET", 0)
    assert report["reversals"]["queued"] <= maybe_delivered
    # paper ran out: an incident per printer, cleared when paper came back
    paper = [i for i in report["incidents"] if i["code"] == "PRN.PAPER_OUT"]
    assert paper
    assert all(i["status"] == "resolved" for i in paper)
    # the issuer outage declined sales with 91, the bad firmware failed its check everywhere
    # (in the inactive slot, before any switch: the previous version kept running)
    assert report["declines"].get("TXN.ISSUER_UNAVAILABLE", 0) >= 1
    fw = by[FaultKind.BAD_FIRMWARE.value]
    assert fw["evidence"]["update_outcomes"] == {"failed": len(fw["terminals"])}
    assert report["faults_seen"]["SW.UPDATE_FAILED"] == len(fw["terminals"])
    # the fee audit flags exactly the merchants whose rate was raised
    fee = report["fee_audit"]
    assert fee["merchants_raised"]
    assert fee["merchants_flagged"] == fee["merchants_raised"]


def test_reconciliation_is_clean_and_the_fleet_has_the_events(
    played: tuple[dict[str, Any], str, Path],
) -> None:
    report, _, out = played
    rec = report["reconciliation"]
    assert rec["terminals"] == 12
    assert rec["host_rows"] > 50
    assert rec["differences"] == 0, rec["examples"]
    assert rec["exceptions"] == 0, rec["exception_kinds"]  # nothing for exception handling
    assert report["telemetry_left"] == 0
    assert report["settlement"] == {"terminals": 12, "balanced": 12, "codes": {}}
    # failing over to the backup front-end and back costs no sale an A0 or a 77
    assert report["session_declines"] == 0, report["declines"]
    assert report["clean"] is True
    with sqlite3.connect(out / "fleet.db") as db:
        stored = dict(db.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind").fetchall())
        alive = db.execute("SELECT COUNT(*) FROM terminal_liveness").fetchone()[0]
        approved = db.execute(
            "SELECT COUNT(*) FROM events WHERE kind='transaction' "
            "AND json_extract(data, '$.outcome')='approved'"
        ).fetchone()[0]
    assert stored == report["fleet_events"]
    assert approved == report["transactions"]["approved"]
    # heartbeats are not events rows: each terminal's newest is its liveness row
    assert "heartbeat" not in stored
    assert alive >= 12


def _incidents(db_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as db:
        return db.execute(
            "SELECT id, rule_id, scope, cause_key, opened_at, resolved_at, status FROM incidents"
            " ORDER BY id"
        ).fetchall()


def _assert_truthful(rows: list[tuple[Any, ...]]) -> None:
    """No incident closes before it opens; none is opened twice for one cause (same rule,
    scope and opening event), and one rule never has two incidents open at once on a scope."""
    for _id, rule, scope, _cause, opened, resolved, _status in rows:
        assert resolved is None or resolved >= opened, (_id, rule, scope, opened, resolved)
    causes = [r[3] for r in rows if r[3] is not None]
    assert len(causes) == len(set(causes)), "an incident opened twice for one cause"
    spans: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
    for _id, rule, scope, _cause, opened, resolved, _status in rows:
        spans.setdefault((rule, scope), []).append((opened, resolved))
    for key, same in spans.items():
        same.sort()
        for (_, first_closed), (second_opened, _) in itertools.pairwise(same):
            assert first_closed is not None, f"{key}: two open at once"
            assert first_closed <= second_opened, f"{key}: overlapping incidents"


def test_the_network_report_shows_the_story_terminals_links(
    played: tuple[dict[str, Any], str, Path],
) -> None:
    """The story's terminals report their link, carrier and signal, and the round trip measured
    on their real host link (issue 20): after the demo the network report has their places,
    with RTT figures, and every sale attempt counted once."""
    from datetime import UTC, datetime

    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.network_report import network_report
    from posguard.sim.network_model import CARRIERS, LINKS

    report, _, out = played
    engine = make_engine(f"sqlite:///{out / 'fleet.db'}")
    try:
        with make_sessionmaker(engine)() as s:
            net = network_report(s, now=datetime.now(UTC), weeks=1)
    finally:
        engine.dispose()
    assert net.rows
    assert all(r.link in LINKS and r.carrier in CARRIERS for r in net.rows)
    assert any(r.rtt_p50_ms is not None for r in net.rows)
    assert sum(r.terminals for r in net.rows) == report["terminals"]
    assert net.fleet_attempts > 0


def test_incidents_tell_the_truth_after_the_demo_and_after_a_restart(
    played: tuple[dict[str, Any], str, Path],
) -> None:
    """Issue #15: after the demo, and after the diagnosis restarts on its database (a new
    process replaying what is there), every incident closed after it opened and none was opened
    twice for one cause; the restart itself opens nothing."""
    _, _, out = played
    before = _incidents(out / "fleet.db")
    assert before
    _assert_truthful(before)
    restart = subprocess.run(
        [sys.executable, "-c", _RESTART, f"sqlite:///{out / 'fleet.db'}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert restart.returncode == 0, restart.stderr[-3000:]
    assert int(restart.stdout.split()[-1]) > 0, "the restart replayed the demo's events"
    after = _incidents(out / "fleet.db")
    _assert_truthful(after)
    assert [r[:5] for r in after] == [r[:5] for r in before], "the restart opened incidents"


# a second diagnoser process on the demo's database: start (warm-up replay), a few steps
_RESTART = """
import sys, time
from posguard.catalog import default_catalog
from posguard.fleet.clock import SystemClock
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.service import DiagnosisService
engine = make_engine(sys.argv[1])
catalog = default_catalog()
service = DiagnosisService(make_sessionmaker(engine), rules=load_rules(catalog=catalog),
                           catalog=catalog, clock=SystemClock())
service.start()
for _ in range(10):
    service.step()
    time.sleep(0.2)
print(service.warmed_up)
"""


def test_no_clear_card_number_in_the_fleet_database_or_the_logs(
    played: tuple[dict[str, Any], str, Path],
) -> None:
    report, output, out = played
    assert report["pan_scan"]["clear_pans_found"] == 0
    assert "fleet.db" in report["pan_scan"]["files"]
    assert "host-ledger.db" in report["pan_scan"]["files"]
    blobs = [output.encode(), (out / "demo.log").read_bytes(), (out / "report.json").read_bytes()]
    blobs += [p.read_bytes() for p in out.glob("fleet.db*")]
    for blob in blobs:
        for pan in PANS:
            assert pan.encode() not in blob
    # the host's issuer ledger keeps keyed hashes and last 4 digits only (PCI DSS 3.5.1)
    ledger = b"".join(p.read_bytes() for p in out.glob("host-ledger.db*"))
    assert ledger
    for pan in PANS:
        assert pan.encode() not in ledger


def test_ctrl_c_stops_cleanly_and_still_writes_the_report(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        _demo(tmp_path, "--duration", "60", "--terminals", "4", "--light", "300"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        log = tmp_path / "demo.log"
        while time.monotonic() < deadline:  # wait until the terminals are trading
            if log.exists() and b"fault start" in log.read_bytes():
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["stopped_early"] is True
    assert report["reconciliation"]["differences"] == 0
    assert report["reversals_left"] == 0
    assert "stopped early" in output
    light = report["light"]
    assert light["terminals"] == 300
    assert light["events"] > 0
    assert light["stored"] == light["events"]
    assert light["rejected"] == 0
    assert (tmp_path / "fleet.db").exists()


def test_the_wearing_printer_is_flagged_before_it_fails(
    played: tuple[dict[str, Any], str, Path],
) -> None:
    """Issue 20: one terminal's printer wears out over its last days (four weeks of heartbeat
    wear counters); the fleet lists it for a visit, with reasons, before it fails in the story."""
    report, output, out = played
    story = report["wear_story"]
    assert story["flagged_at"] is not None, story
    assert story["failed_at"] is not None, story
    assert story["flagged_at"] < story["failed_at"]
    assert story["flagged_before_failure_s"] > 0
    assert story["risk"] >= 0.3
    assert any("Theil–Sen" in r or "CUSUM" in r for r in story["reasons"]), story["reasons"]
    assert f"{story['terminal_id']} on the visit list" in output
    with sqlite3.connect(out / "fleet.db") as db:
        (failed,) = db.execute(
            "SELECT COUNT(*) FROM events WHERE terminal_id = ? AND code = 'PRN.HARDWARE_FAULT'",
            (story["terminal_id"],),
        ).fetchone()
    assert failed == 1
