"""Role checks: a merchant never reads another merchant's terminal, event, incident or command;
staff-only actions refuse merchants; tokens are checked."""

from __future__ import annotations

import pytest

from posguard.catalog import default_catalog
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.service import DiagnosisService

from .conftest import Api, event


def _seed(api: Api) -> dict[str, int]:
    """An event and an open incident on T1 (merchant M01) and on T3 (merchant M02)."""
    for tid in ("T1", "T3"):
        ev = event(
            tid, 1, kind="fault", code="PRN.PAPER_OUT", merchant_id="M01" if tid == "T1" else "M02"
        )
        assert (
            api.client.post("/api/v1/ingest", json=ev, headers=api.as_terminal(tid)).status_code
            == 201
        )
    catalog = default_catalog()
    diag = DiagnosisService(
        api.db.sessions, rules=load_rules(catalog=catalog), catalog=catalog, clock=api.clock
    )
    diag.start()
    diag.step()
    incidents = api.client.get("/api/v1/incidents", headers=api.headers["ops"]).json()
    events = api.client.get("/api/v1/events", headers=api.headers["ops"]).json()
    return {
        **{f"inc_{i['terminal_id']}": i["id"] for i in incidents},
        **{f"ev_{e['terminal_id']}": e["id"] for e in events},
    }


def test_merchant_sees_only_its_own_and_gets_404_for_others(api: Api) -> None:
    ids = _seed(api)
    m01 = api.headers["m01"]
    assert {t["id"] for t in api.client.get("/api/v1/terminals", headers=m01).json()} == {
        "T1",
        "T2",
    }
    assert {e["terminal_id"] for e in api.client.get("/api/v1/events", headers=m01).json()} == {
        "T1"
    }
    assert {i["terminal_id"] for i in api.client.get("/api/v1/incidents", headers=m01).json()} == {
        "T1"
    }
    # filtering by another merchant's terminal yields nothing, not an error that confirms it exists
    assert api.client.get("/api/v1/events?terminal_id=T3", headers=m01).json() == []
    for path in (
        "/api/v1/terminals/T3",
        f"/api/v1/events/{ids['ev_T3']}",
        f"/api/v1/incidents/{ids['inc_T3']}",
        "/api/v1/terminals/T3/commands",
        "/api/v1/terminals/NOPE",  # same answer as for a terminal that does not exist
    ):
        r = api.client.get(path, headers=m01)
        assert r.status_code == 404, path
    assert api.client.get("/api/v1/terminals/T3", headers=m01).json() == api.client.get(
        "/api/v1/terminals/NOPE", headers=m01
    ).json() | {"detail": "terminal not found"}
    assert api.client.get(f"/api/v1/incidents/{ids['inc_T1']}", headers=m01).status_code == 200
    assert api.client.get("/api/v1/terminals/T3", headers=api.headers["m02"]).status_code == 200


def test_merchant_cannot_act_as_staff(api: Api) -> None:
    ids = _seed(api)
    m01 = api.headers["m01"]
    assert api.client.post(f"/api/v1/incidents/{ids['inc_T1']}/ack", headers=m01).status_code == 403
    assert (
        api.client.post(
            "/api/v1/terminals/T1/commands", json={"name": "reboot"}, headers=m01
        ).status_code
        == 403
    )
    assert api.client.post("/api/v1/terminals/T1/revoke", headers=m01).status_code == 403
    new = {"username": "x1", "password": "0123456789ab", "role": "admin"}
    assert api.client.post("/api/v1/users", json=new, headers=m01).status_code == 403
    assert api.client.post("/api/v1/users", json=new, headers=api.headers["ops"]).status_code == 403
    assert (
        api.client.post("/api/v1/users", json=new, headers=api.headers["admin"]).status_code == 201
    )


@pytest.mark.parametrize(
    "header",
    [None, "Bearer nonsense", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"],
)
def test_missing_or_forged_tokens_are_401(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    assert api.client.get("/api/v1/terminals", headers=headers).status_code == 401


def test_terminal_credential_is_not_a_user_token(api: Api) -> None:
    assert api.client.get("/api/v1/terminals", headers=api.as_terminal("T1")).status_code == 401


def test_wrong_password_is_401(api: Api) -> None:
    r = api.client.post("/api/v1/auth/token", data={"username": "ops", "password": "guess-guess"})
    assert r.status_code == 401


def test_incident_shows_catalog_steps_for_its_audience(api: Api) -> None:
    ids = _seed(api)
    entry = default_catalog()["PRN.PAPER_OUT"]
    ops_view = api.client.get(
        f"/api/v1/incidents/{ids['inc_T1']}", headers=api.headers["ops"]
    ).json()
    assert [s["en"] for s in ops_view["steps"]] == [s.en for s in entry.steps]
    assert ops_view["title"]["zh"] == entry.title.zh
    assert ops_view["explanation"]["rule_id"] == "printer-paper-out"
    assert [e["seq"] for e in ops_view["events"]] == [1]
    merchant_view = api.client.get(
        f"/api/v1/incidents/{ids['inc_T1']}", headers=api.headers["m01"]
    ).json()
    expected = [s.en for s in entry.steps] if "merchant" in entry.audience else []
    assert [s["en"] for s in merchant_view["steps"]] == expected
