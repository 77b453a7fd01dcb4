"""The incident workflow over the API: assign, note, resolve with a reason (409 ``needs:
force`` while the cause still shows), reopen, the audit log (a merchant: its own incidents'
merchant-safe entries, without who), the SLA in the incident, and each refusal's status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from posguard.fleet.db.models import EventRow, Incident
from posguard.fleet.repo.incidents import open_key

from .conftest import T0, Api


def _incident(api: Api, *, terminal: str = "T1", merchant: str = "M01") -> int:
    with api.db.sessions.begin() as s:
        inc = Incident(
            rule_id="printer-paper-out",
            scope=f"terminal:{terminal}",
            open_key=open_key("printer-paper-out", f"terminal:{terminal}"),
            code="PRN.PAPER_OUT",
            severity="minor",
            status="open",
            terminal_id=terminal,
            merchant_id=merchant,
            explanation={"reason": "paper out"},
            opened_at=T0,
        )
        s.add(inc)
        s.add(
            EventRow(
                terminal_id=terminal,
                merchant_id=merchant,
                seq=1,
                ts=T0,
                received_at=T0,
                kind="printer",
                code=None,
                data={"state": "paper_out"},
            )
        )
        s.flush()
        return inc.id


def _post(api: Api, who: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return api.client.post(f"/api/v1/incidents/{path}", json=body, headers=api.headers[who])


def test_assign_note_resolve_reopen_and_the_audit_log(api: Api) -> None:
    inc = _incident(api)
    api.clock.advance(60)
    r = _post(api, "ops", f"{inc}/assign", {"assignee": "team:field-service"})
    assert (r.status_code, r.json()["assignee"]) == (200, "team:field-service")
    assert _post(api, "ops", f"{inc}/notes", {"text": "called the shop"}).status_code == 200

    missing = _post(api, "ops", f"{inc}/resolve", {"reason": "other"})
    assert missing.status_code == 422
    assert "text is required" in missing.text
    still = _post(api, "ops", f"{inc}/resolve", {"reason": "fixed_on_site"})
    assert still.status_code == 409
    assert (still.json()["detail"]["cause"], still.json()["detail"]["needs"]) == (
        "printer",
        "force",
    )
    r = _post(api, "admin", f"{inc}/resolve", {"reason": "fixed_on_site", "force": True})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["resolution_reason"], r.json()["resolved_by"]) == (
        "resolved",
        "fixed_on_site",
        "user:admin",
    )
    assert _post(api, "ops", f"{inc}/reopen", {"reason": ""}).status_code == 422
    r = _post(api, "ops", f"{inc}/reopen", {"reason": "paper out again"})
    assert (r.status_code, r.json()["status"], r.json()["reopen_count"]) == (200, "open", 1)
    assert _post(api, "ops", f"{inc}/reopen", {"reason": "twice"}).status_code == 409

    log = api.client.get(f"/api/v1/incidents/{inc}/audit", headers=api.headers["ops"]).json()
    assert [(e["action"], e["actor"], e["origin"]) for e in log] == [
        ("assigned", "user:ops", "testclient"),
        ("note", "user:ops", "testclient"),
        ("resolved", "user:admin", "testclient"),
        ("reopened", "user:ops", "testclient"),
    ]
    assert log[2]["details"]["forced"] is True
    assert log[2]["details"]["active_cause"] == {"reason": "printer", "detail": "paper_out"}

    mine = api.client.get(f"/api/v1/incidents/{inc}/audit", headers=api.headers["m01"]).json()
    assert mine == [
        {
            "id": log[2]["id"],
            "at": log[2]["at"],
            "action": "resolved",
            "actor": None,
            "origin": None,
            "details": {"reason": "fixed_on_site"},
        },
        {
            "id": log[3]["id"],
            "at": log[3]["at"],
            "action": "reopened",
            "actor": None,
            "origin": None,
            "details": {},
        },
    ]
    other = api.client.get(f"/api/v1/incidents/{inc}/audit", headers=api.headers["m02"])
    assert other.status_code == 404


def test_refusals_answer_403_404_409_422(api: Api) -> None:
    inc = _incident(api)
    assert _post(api, "m01", f"{inc}/assign", {"assignee": "user:ops"}).status_code == 403
    assert _post(api, "m01", f"{inc}/notes", {"text": "x"}).status_code == 403
    assert _post(api, "ops", "999999/notes", {"text": "x"}).status_code == 404
    assert _post(api, "ops", f"{inc}/assign", {"assignee": "team:nobody"}).status_code == 422
    assert _post(api, "ops", f"{inc}/assign", {"assignee": "user:m01"}).status_code == 422
    assert _post(api, "ops", f"{inc}/resolve", {"reason": "fixed"}).status_code == 422
    assert _post(api, "ops", f"{inc}/resolve", {}).status_code == 422  # the reason is required
    assert _post(api, "ops", f"{inc}/reopen", {"reason": "not closed"}).status_code == 409
    assert _post(api, "ops", f"{inc}/ack").status_code == 200
    assert _post(api, "ops", f"{inc}/ack").status_code == 409
    log = api.client.get(f"/api/v1/incidents/{inc}/audit", headers=api.headers["ops"]).json()
    assert [e["action"] for e in log] == ["acknowledged"]  # refusals wrote nothing


def test_the_incident_shows_its_sla_and_hides_the_assignee_from_a_merchant(api: Api) -> None:
    inc = _incident(api)
    _post(api, "ops", f"{inc}/assign", {"assignee": "user:ops"})
    api.clock.advance(10 * 60)  # minor: 120 min to acknowledge, 1440 to resolve
    r = api.client.get(f"/api/v1/incidents/{inc}", headers=api.headers["ops"]).json()
    assert r["assignee"] == "user:ops"
    assert (r["sla"]["ack"]["state"], r["sla"]["ack"]["remaining_s"], r["sla"]["breached"]) == (
        "running",
        110 * 60.0,
        False,
    )
    api.clock.advance(timedelta(hours=2).total_seconds())
    listed = api.client.get("/api/v1/incidents?status=open", headers=api.headers["ops"]).json()
    (row,) = [i for i in listed if i["id"] == inc]
    assert (row["sla"]["ack"]["state"], row["sla"]["breached"]) == ("breached", True)
    seen = api.client.get(f"/api/v1/incidents/{inc}", headers=api.headers["m01"]).json()
    assert (seen["assignee"], seen["sla"]["breached"]) == (None, True)


def test_the_list_filters_by_assignee(api: Api) -> None:
    mine = _incident(api, terminal="T1")
    other = _incident(api, terminal="T2")
    _post(api, "ops", f"{mine}/assign", {"assignee": "team:network"})
    _post(api, "ops", f"{other}/assign", {"assignee": "user:ops"})
    got = api.client.get(
        "/api/v1/incidents?assignee=team:network", headers=api.headers["ops"]
    ).json()
    assert [(i["id"], i["assignee"]) for i in got] == [(mine, "team:network")]
    # a merchant cannot look up who works on what: the filter does not apply to it
    seen = api.client.get("/api/v1/incidents?assignee=team:network", headers=api.headers["m01"])
    assert sorted(i["id"] for i in seen.json()) == sorted([mine, other])
