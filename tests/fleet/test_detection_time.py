"""Both times are kept: an incident's ``opened_at`` is the time of the event that opened it and
``detected_at`` when the diagnoser opened it; a rule's command keeps ``issued_at`` (the event's
time) and ``detected_at`` (when it was issued), and lives its time to live from the latter. The
API and the incident page show both."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import Command
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.service import DiagnosisService
from posguard.fleet.repo.commands import DEFAULT_TTL_S

from .conftest import T0, Api, FleetDB, event, register
from .test_rules import Rig

LATE = timedelta(minutes=7)  # a diagnosis backlog: the decision comes 7 minutes after the event


@pytest.fixture
def rig(fleet_db: FleetDB, clock: FakeClock) -> Rig:
    """On SQLite and on PostgreSQL."""
    register(fleet_db, "T1")
    return Rig(fleet_db, clock)


def test_an_incident_and_its_rule_command_keep_event_time_and_detection_time(rig: Rig) -> None:
    rig.send("T1", "fault", "TXN.MAC_ERROR", at=T0)
    rig.send("T1", "fault", "TXN.MAC_ERROR", at=T0 + timedelta(seconds=10))
    rig.step(LATE.total_seconds())
    detected = T0 + timedelta(seconds=10) + LATE
    (inc,) = rig.incidents("mac-errors")
    assert inc.opened_at == T0 + timedelta(seconds=10)  # the event that tipped the rule
    assert inc.detected_at == detected
    with rig.db.sessions() as s:
        (cmd,) = s.scalars(select(Command).where(Command.incident_id == inc.id)).all()
    assert cmd.name == "re_sign_on"
    assert cmd.issued_at == inc.opened_at
    assert cmd.detected_at == detected
    # the time to live counts from when the command exists, not from the (older) event
    assert cmd.expires_at == detected + timedelta(seconds=DEFAULT_TTL_S)


def test_an_operator_command_has_no_detection_time(api: Api) -> None:
    r = api.client.post(
        "/api/v1/terminals/T1/commands", json={"name": "re_sign_on"}, headers=api.headers["ops"]
    )
    assert r.status_code in (200, 201, 202), r.text
    body = r.json()
    assert body["detected_at"] is None
    assert body["issued_at"].startswith(api.clock.now().isoformat()[:19])


def test_the_api_and_the_incident_page_show_both_times(api: Api) -> None:
    ev = event("T1", 1, kind="fault", code="PRN.PAPER_OUT", ts=T0)
    assert api.client.post("/api/v1/ingest", json=ev, headers=api.as_terminal("T1")).status_code
    api.clock.advance(90)
    catalog = default_catalog()
    diag = DiagnosisService(
        api.db.sessions, rules=load_rules(catalog=catalog), catalog=catalog, clock=api.clock
    )
    diag.start()
    diag.step()
    (inc,) = api.client.get("/api/v1/incidents", headers=api.headers["ops"]).json()
    assert inc["opened_at"].startswith("2026-11-25T10:00:00")
    assert inc["detected_at"].startswith("2026-11-25T10:01:30")

    c = api.client
    page = c.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = c.post(
        "/ui/login",
        data={"username": "ops", "password": "ops-password", "csrf": token[1], "next": "/ui/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    html = c.get(f"/ui/incidents/{inc['id']}").text
    detected = re.search(r'id="incident-detected">([^<]+)<', html)
    assert detected is not None, "the incident page shows no detection time"
    # in the reader's zone: a Chinese-speaking user without a saved zone reads Asia/Shanghai
    assert detected[1] == "2026-11-25 18:01:30"
    assert "2026-11-25 18:00:00" in html  # and the event's time beside it
