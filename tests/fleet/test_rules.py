"""Each rule kind opens and clears an incident, driven by stored events and a fake clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import Command, Incident, IncidentEvent, Terminal
from posguard.fleet.diagnosis.rules import RuleError, load_rules, parse_rules
from posguard.fleet.diagnosis.service import DiagnosisService
from posguard.fleet.ingest.store import EventStore, Outcome

from .conftest import T0, FleetDB, event, register


class Rig:
    """Store events as ingest would, then run the diagnosis step at the fake clock's time."""

    def __init__(self, db: FleetDB, clock: FakeClock) -> None:
        self.db, self.clock = db, clock
        catalog = default_catalog()
        self.store = EventStore(db.sessions, catalog=catalog, clock=clock)
        self.diag = DiagnosisService(
            db.sessions, rules=load_rules(catalog=catalog), catalog=catalog, clock=clock
        )
        self.diag.start()
        self.seq: dict[str, int] = {}
        with db.sessions() as s:
            self.merchant = dict(s.execute(select(Terminal.id, Terminal.merchant_id)).all())

    def send(
        self,
        tid: str,
        kind: str,
        code: str | None = None,
        *,
        at: datetime | None = None,
        **data: object,
    ) -> None:
        at = at or self.clock.now()
        self.clock.set(max(self.clock.now(), at))
        seq = self.seq.get(tid, 0) + 1
        self.seq[tid] = seq
        (res,) = self.store.store(
            [
                event(
                    tid,
                    seq,
                    kind=kind,
                    code=code,
                    ts=at,
                    merchant_id=self.merchant[tid],
                    data=dict(data),
                )
            ],
            transport="test",
        )
        assert res.outcome is Outcome.STORED, res.reason

    def step(self, advance_s: float = 0.0) -> None:
        self.clock.advance(advance_s)
        self.diag.step()

    def incidents(self, rule_id: str | None = None) -> list[Incident]:
        with self.db.sessions() as s:
            q = select(Incident).order_by(Incident.id)
            if rule_id:
                q = q.where(Incident.rule_id == rule_id)
            return list(s.scalars(q))


@pytest.fixture
def rig(fleet_db: FleetDB, clock: FakeClock) -> Rig:
    """On SQLite and on PostgreSQL."""
    for tid in ("T1", "T2"):
        register(fleet_db, tid)
    return Rig(fleet_db, clock)


def test_simple_opens_on_one_event_and_clears_on_its_clear_event(rig: Rig) -> None:
    rig.send("T1", "fault", "PRN.PAPER_OUT")
    rig.step()
    (inc,) = rig.incidents("printer-paper-out")
    assert (inc.status, inc.scope, inc.code, inc.terminal_id) == (
        "open",
        "terminal:T1",
        "PRN.PAPER_OUT",
        "T1",
    )
    assert inc.severity == default_catalog()["PRN.PAPER_OUT"].severity.value
    ex = inc.explanation
    assert ex["rule_id"] == "printer-paper-out"
    assert ex["catalog"]["code"] == "PRN.PAPER_OUT"
    assert [e["seq"] for e in ex["events"]] == [1]
    rig.send("T1", "fault_cleared", "PRN.PAPER_OUT", at=T0 + timedelta(seconds=40))
    rig.step()
    (inc,) = rig.incidents("printer-paper-out")
    assert (inc.status, inc.resolved_by, inc.time_to_resolve_s) == ("resolved", "rule", 40.0)
    assert inc.open_key is None


def test_duration_opens_only_when_the_state_persists(rig: Rig) -> None:
    rig.send("T1", "fault", "PRN.OFFLINE")
    rig.step(299)
    assert rig.incidents("printer-offline") == []
    rig.step(1)
    (inc,) = rig.incidents("printer-offline")
    assert inc.status == "open"
    assert "persisting for 300 s" in inc.explanation["reason"]
    rig.send("T1", "fault_cleared", "PRN.OFFLINE", at=rig.clock.now() + timedelta(seconds=60))
    rig.step()
    assert rig.incidents("printer-offline")[0].status == "resolved"


def test_duration_that_ends_early_opens_nothing(rig: Rig) -> None:
    rig.send("T2", "fault", "PRN.OFFLINE")
    rig.send("T2", "fault_cleared", "PRN.OFFLINE", at=T0 + timedelta(seconds=120))
    rig.step(600)
    assert rig.incidents("printer-offline") == []


def test_repeating_needs_count_within_window_and_clears_after_quiet(rig: Rig) -> None:
    rig.send("T1", "fault", "NET.READ_TIMEOUT", at=T0)
    rig.send("T1", "fault", "NET.READ_TIMEOUT", at=T0 + timedelta(seconds=100))
    rig.send("T1", "fault", "NET.READ_TIMEOUT", at=T0 + timedelta(seconds=150))  # first fell out
    rig.step()
    assert rig.incidents("host-read-timeouts") == []
    rig.send("T1", "fault", "NET.READ_TIMEOUT", at=T0 + timedelta(seconds=200))
    rig.step()
    (inc,) = rig.incidents("host-read-timeouts")
    assert [e["seq"] for e in inc.explanation["events"]] == [2, 3, 4]
    with rig.db.sessions() as s:
        linked = s.scalars(
            select(IncidentEvent.event_id).where(IncidentEvent.incident_id == inc.id)
        ).all()
    assert len(linked) == 3
    rig.step(599)
    assert rig.incidents("host-read-timeouts")[0].status == "open"
    rig.step(1)
    assert rig.incidents("host-read-timeouts")[0].status == "resolved"


def test_absence_of_heartbeats_suspects_a_freeze_and_a_heartbeat_clears_it(rig: Rig) -> None:
    rig.send("T1", "heartbeat", interval_s=60)
    rig.send("T2", "heartbeat", interval_s=60)
    rig.step(150)
    rig.send("T2", "heartbeat", interval_s=60)  # T2 stays alive
    rig.step(29)
    assert rig.incidents("heartbeat-lost") == []
    rig.step(1)  # 180 s = 3 intervals since T1's heartbeat
    (inc,) = rig.incidents("heartbeat-lost")
    assert (inc.terminal_id, inc.code) == ("T1", "DEV.FREEZE")
    assert "3 intervals of 60 s" in inc.explanation["reason"]
    rig.send("T1", "heartbeat", interval_s=60)
    rig.step()
    assert rig.incidents("heartbeat-lost")[0].status == "resolved"


def test_open_incident_is_deduplicated_per_rule_and_scope(rig: Rig) -> None:
    for _ in range(3):
        rig.send("T1", "fault", "PRN.PAPER_OUT")
        rig.step(5)
    (inc,) = rig.incidents("printer-paper-out")
    with rig.db.sessions() as s:
        assert (
            len(s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == inc.id)).all())
            == 3
        )


def test_repeated_mac_errors_issue_a_re_sign_on_command(rig: Rig) -> None:
    rig.send("T1", "fault", "TXN.MAC_ERROR")
    rig.send("T1", "fault", "TXN.MAC_ERROR", at=T0 + timedelta(seconds=20))
    rig.step()
    (inc,) = rig.incidents("mac-errors")
    with rig.db.sessions() as s:
        (cmd,) = s.scalars(select(Command)).all()
    assert (cmd.name, cmd.terminal_id, cmd.incident_id, cmd.status) == (
        "re_sign_on",
        "T1",
        inc.id,
        "pending",
    )
    assert cmd.issued_by == "rule:mac-errors"


def test_rule_files_cannot_name_code_or_unknown_kinds() -> None:
    with pytest.raises(RuleError, match="kind"):
        parse_rules(
            [
                {
                    "id": "x1",
                    "kind": "posguard.evil:Run",
                    "code": "PRN.OFFLINE",
                    "create": {},
                    "clear": {},
                }
            ],
            source="t.yaml",
        )
    with pytest.raises(RuleError, match="count >= 2"):
        parse_rules(
            [
                {
                    "id": "x2",
                    "kind": "repeating",
                    "code": "PRN.OFFLINE",
                    "create": {"match": {"code": "PRN.OFFLINE"}, "within_s": 10},
                    "clear": {"quiet_s": 5},
                }
            ],
            source="t.yaml",
        )


def test_cover_open_is_an_incident_only_when_it_stays_open(rig: Rig) -> None:
    rig.send("T1", "fault", "PRN.COVER_OPEN")
    rig.send("T1", "fault_cleared", "PRN.COVER_OPEN", at=T0 + timedelta(seconds=60))
    rig.step(120)  # a paper change: closed within a minute
    assert rig.incidents("printer-cover-open") == []
    rig.send("T2", "fault", "PRN.COVER_OPEN")
    rig.step(119)
    assert rig.incidents("printer-cover-open") == []
    rig.step(1)
    (inc,) = rig.incidents("printer-cover-open")
    assert (inc.status, inc.terminal_id) == ("open", "T2")
    rig.send("T2", "fault_cleared", "PRN.COVER_OPEN", at=rig.clock.now() + timedelta(seconds=5))
    rig.step()
    assert rig.incidents("printer-cover-open")[0].status == "resolved"


def test_failed_update_opens_an_incident_that_clears_when_quiet(rig: Rig) -> None:
    rig.send("T1", "fault", "SW.UPDATE_FAILED", version="6.0.4")
    rig.step()
    (inc,) = rig.incidents("update-failed")
    assert (inc.code, inc.status) == ("SW.UPDATE_FAILED", "open")
    rig.step(3601)
    assert rig.incidents("update-failed")[0].status == "resolved"


def test_a_failed_reversal_and_a_declined_refund_open_incidents(rig: Rig) -> None:
    """The terminal gives up a reversal (RECON.REVERSAL_FAILED, a reversal event) or a stored
    refund is declined (TXN.REFUND_DECLINED fault): each needs a person, so each opens one."""
    rig.send("T1", "reversal", "RECON.REVERSAL_FAILED", stage="failed", stan="000007")
    rig.send("T2", "fault", "TXN.REFUND_DECLINED", stage="advice", stan="000009")
    rig.step()
    (rev,) = rig.incidents("reversal-failed")
    (ref,) = rig.incidents("refund-declined")
    assert (rev.terminal_id, rev.code, rev.status) == ("T1", "RECON.REVERSAL_FAILED", "open")
    assert (ref.terminal_id, ref.code, ref.status) == ("T2", "TXN.REFUND_DECLINED", "open")
