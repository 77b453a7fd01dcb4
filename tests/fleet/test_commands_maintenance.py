"""Remote commands over HTTP pickup, completed by the terminal's command_result event;
incident acknowledge/resolve by hand; preventive maintenance lists."""

from __future__ import annotations

from datetime import timedelta

from .conftest import T0, Api, event


def test_command_round_trip_over_http_pickup(api: Api) -> None:
    r = api.client.post(
        "/api/v1/terminals/T1/commands",
        json={"name": "update_config", "args": {"host": "10.0.0.2"}},
        headers=api.headers["ops"],
    )
    assert r.status_code == 201, r.text
    cmd = r.json()
    assert (cmd["status"], cmd["issued_by"]) == ("pending", "user:ops")
    # another terminal's credential cannot collect T1's commands
    assert (
        api.client.get(
            "/api/v1/terminals/T1/commands/pending", headers=api.as_terminal("T2")
        ).status_code
        == 404
    )
    picked = api.client.get(
        "/api/v1/terminals/T1/commands/pending", headers=api.as_terminal("T1")
    ).json()
    assert picked == [
        {
            "command_id": cmd["id"],
            "name": "update_config",
            "args": {"host": "10.0.0.2"},
            "issued_at": cmd["issued_at"],
            "expires_at": cmd["expires_at"],
        }
    ]
    assert cmd["expires_at"] == "2026-11-25T10:15:00Z"  # 15 minutes to take it
    assert (
        api.client.get(
            "/api/v1/terminals/T1/commands/pending", headers=api.as_terminal("T1")
        ).json()
        == []
    )
    assert (
        api.client.get(f"/api/v1/commands/{cmd['id']}", headers=api.headers["ops"]).json()["status"]
        == "sent"
    )
    # a result from the wrong terminal is stored as an event but completes nothing
    result = {"command_id": cmd["id"], "status": "ok", "detail": "applied"}
    api.client.post(
        "/api/v1/ingest",
        json=event("T2", 1, kind="command_result", data=result),
        headers=api.as_terminal("T2"),
    )
    assert (
        api.client.get(f"/api/v1/commands/{cmd['id']}", headers=api.headers["ops"]).json()["status"]
        == "sent"
    )
    api.client.post(
        "/api/v1/ingest",
        json=event("T1", 1, kind="command_result", data=result),
        headers=api.as_terminal("T1"),
    )
    done = api.client.get(f"/api/v1/commands/{cmd['id']}", headers=api.headers["m01"]).json()
    assert (done["status"], done["result"]) == ("succeeded", {"status": "ok", "detail": "applied"})
    assert (
        api.client.get(f"/api/v1/commands/{cmd['id']}", headers=api.headers["m02"]).status_code
        == 404
    )


def test_unknown_command_name_is_422(api: Api) -> None:
    r = api.client.post(
        "/api/v1/terminals/T1/commands", json={"name": "format_disk"}, headers=api.headers["ops"]
    )
    assert r.status_code == 422


def test_acknowledge_and_resolve_by_hand_record_times(api: Api) -> None:
    from posguard.catalog import default_catalog
    from posguard.fleet.diagnosis.rules import load_rules
    from posguard.fleet.diagnosis.service import DiagnosisService

    api.client.post(
        "/api/v1/ingest",
        json=event("T1", 1, kind="fault", code="SW.CRASH"),
        headers=api.as_terminal("T1"),
    )
    catalog = default_catalog()
    diag = DiagnosisService(
        api.db.sessions, rules=load_rules(catalog=catalog), catalog=catalog, clock=api.clock
    )
    diag.start()
    diag.step()
    (inc,) = api.client.get("/api/v1/incidents?status=open", headers=api.headers["ops"]).json()
    api.clock.advance(120)
    r = api.client.post(f"/api/v1/incidents/{inc['id']}/ack", headers=api.headers["ops"])
    assert (r.json()["status"], r.json()["time_to_ack_s"], r.json()["acknowledged_by"]) == (
        "acknowledged",
        120.0,
        "ops",
    )
    assert (
        api.client.post(
            f"/api/v1/incidents/{inc['id']}/ack", headers=api.headers["ops"]
        ).status_code
        == 409
    )
    api.clock.advance(180)
    r = api.client.post(
        f"/api/v1/incidents/{inc['id']}/resolve",
        json={"reason": "fixed_on_site", "force": True},
        headers=api.headers["admin"],
    )
    assert (r.json()["status"], r.json()["time_to_resolve_s"], r.json()["resolved_by"]) == (
        "resolved",
        300.0,
        "user:admin",
    )
    assert (
        api.client.post(
            f"/api/v1/incidents/{inc['id']}/resolve",
            json={"reason": "fixed_on_site", "force": True},
            headers=api.headers["ops"],
        ).status_code
        == 409
    )


def test_maintenance_overdue_and_outdated_firmware(api: Api) -> None:
    ops = api.headers["ops"]
    r = api.client.put(
        "/api/v1/maintenance/schedules",
        json={"model": "PX-5", "inspection_interval_days": 90, "firmware_minimum": "2.1.0"},
        headers=ops,
    )
    assert r.status_code == 200
    api.client.put(
        "/api/v1/maintenance/schedules",
        json={"model": "QX-9", "inspection_interval_days": 30, "firmware_minimum": "1.2.0"},
        headers=ops,
    )
    api.clock.set(T0 + timedelta(days=100))
    overdue = api.client.get("/api/v1/maintenance/overdue", headers=ops).json()
    assert {o["terminal_id"]: o["days_overdue"] for o in overdue} == {"T1": 10, "T2": 10, "T3": 70}
    r = api.client.post(
        "/api/v1/maintenance/records", json={"terminal_id": "T1", "kind": "inspection"}, headers=ops
    )
    assert r.status_code == 201
    overdue = api.client.get("/api/v1/maintenance/overdue", headers=api.headers["m01"]).json()
    assert [o["terminal_id"] for o in overdue] == ["T2"]  # T1 inspected; T3 is not M01's
    outdated = api.client.get("/api/v1/maintenance/firmware-outdated", headers=ops).json()
    assert [(o["terminal_id"], o["firmware"], o["firmware_minimum"]) for o in outdated] == [
        ("T3", "1.0.0", "1.2.0")
    ]


def test_a_command_not_taken_in_time_expires_and_says_so(api: Api) -> None:
    """A command for a terminal that never comes back is not pending forever: after its expiry
    the pickup no longer hands it out and it shows as expired; a late answer is still kept."""
    from posguard.fleet.repo import commands as repo

    ops = api.headers["ops"]
    cmd = api.client.post(
        "/api/v1/terminals/T1/commands", json={"name": "reboot"}, headers=ops
    ).json()
    api.clock.advance(901)
    picked = api.client.get("/api/v1/terminals/T1/commands/pending", headers=api.as_terminal("T1"))
    assert picked.json() == []
    with api.db.sessions.begin() as s:
        assert repo.expire_due(s, now=api.clock.now()) == 1
        assert repo.expire_due(s, now=api.clock.now()) == 0
    shown = api.client.get(f"/api/v1/commands/{cmd['id']}", headers=ops).json()
    assert shown["status"] == "expired"
    assert shown["result"]["detail"] == "the terminal did not take it before it expired"
    with api.db.sessions.begin() as s:
        late = repo.complete_command(
            s,
            terminal_id="T1",
            data={"command_id": cmd["id"], "status": "ok", "detail": "rebooted"},
            now=api.clock.now(),
        )
        assert late is not None
    assert api.client.get(f"/api/v1/commands/{cmd['id']}", headers=ops).json()["status"] == (
        "succeeded"
    )
