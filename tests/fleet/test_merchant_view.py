"""A merchant whose terminals are inside a fleet-wide incident sees it, in a merchant-safe form
(issue #15): the cause, since when, its own terminals, what to do; nothing about other
merchants. A link from its merged incident to the fleet-wide one never 404s."""

from __future__ import annotations

from datetime import timedelta

from posguard.catalog import default_catalog
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.service import DiagnosisService

from .conftest import T0, Api, event


def _host_outage(api: Api) -> tuple[int, int]:
    """acq-east's three terminals (T1, T2 of M01; T3 of M02) all fail to reach it; T1 first
    had its own incident, merged into the host one. Returns (host incident, T1's incident)."""
    catalog = default_catalog()
    diag = DiagnosisService(
        api.db.sessions, rules=load_rules(catalog=catalog), catalog=catalog, clock=api.clock
    )
    diag.start()
    seq = {"T1": 0, "T2": 0, "T3": 0}

    def fault(tid: str, at_s: int) -> None:
        seq[tid] += 1
        ev = event(
            tid,
            seq[tid],
            kind="fault",
            code="NET.CONNECT_TIMEOUT",
            ts=T0 + timedelta(seconds=at_s),
            merchant_id="M02" if tid == "T3" else "M01",
        )
        r = api.client.post("/api/v1/ingest", json=ev, headers=api.as_terminal(tid))
        assert r.status_code == 201, r.text

    for k in range(3):
        fault("T1", k)
    diag.step()
    for k in range(2):
        fault("T2", 10 + k)
        fault("T3", 10 + k)
    diag.step()
    ops = api.client.get("/api/v1/incidents", headers=api.headers["ops"]).json()
    (host,) = [i for i in ops if i["scope"] == "host:acq-east"]
    (own,) = [i for i in ops if i["terminal_id"] == "T1"]
    assert own["status"] == "merged"
    assert own["parent_id"] == host["id"]
    return host["id"], own["id"]


def test_a_merchant_sees_the_fleet_incident_its_terminals_are_in(api: Api) -> None:
    host_id, child_id = _host_outage(api)
    listed = api.client.get("/api/v1/incidents", headers=api.headers["m01"]).json()
    assert {i["id"] for i in listed} == {host_id, child_id}
    (host,) = [i for i in listed if i["id"] == host_id]
    assert host["code"] == "NET.HOST_UNREACHABLE"
    assert host["explanation"]["members"] == ["T1", "T2"]  # its own, not T3
    assert "reason" not in host["explanation"]  # "3 of 3 terminals ..." is about the fleet
    assert host["steps"], "what to do, for a merchant"

    detail = api.client.get(f"/api/v1/incidents/{host_id}", headers=api.headers["m01"])
    assert detail.status_code == 200
    body = detail.json()
    assert {e["terminal_id"] for e in body["events"]} <= {"T1", "T2"}
    assert body["events"]
    assert body["children"] == [child_id]
    assert '"T3"' not in detail.text
    assert "M02" not in detail.text

    # the merged incident links to its parent, and the parent opens for its owner
    child = api.client.get(f"/api/v1/incidents/{child_id}", headers=api.headers["m01"]).json()
    assert child["parent_id"] == host_id

    other = api.client.get(f"/api/v1/incidents/{host_id}", headers=api.headers["m02"])
    assert other.status_code == 200
    assert other.json()["explanation"]["members"] == ["T3"]
    assert '"T1"' not in other.text
    assert (
        api.client.get(f"/api/v1/incidents/{child_id}", headers=api.headers["m02"]).status_code
        == 404
    )


def test_staff_still_see_the_whole_fleet_incident(api: Api) -> None:
    host_id, child_id = _host_outage(api)
    body = api.client.get(f"/api/v1/incidents/{host_id}", headers=api.headers["ops"]).json()
    assert sorted(body["explanation"]["members"]) == ["T1", "T2", "T3"]
    assert "all 3 terminals on acquirer host acq-east" in body["explanation"]["reason"]
    assert body["children"] == [child_id]
