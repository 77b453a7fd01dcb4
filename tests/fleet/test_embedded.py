"""The embedded default: one process, SQLite, HTTP ingest, the diagnosis loop in the app's
lifespan. A fault posted over HTTP becomes an incident readable through the API."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from posguard.fleet.api.app import create_app
from posguard.fleet.clock import SystemClock
from posguard.fleet.config import FleetSettings
from posguard.fleet.repo.users import Role, create_user

from .conftest import T0, FleetDB, event, register


def test_fault_over_http_becomes_an_incident_in_one_process(sqlite_db: FleetDB) -> None:
    token = register(sqlite_db, "T1")
    with sqlite_db.sessions.begin() as s:
        create_user(s, username="ops", password="ops-password", role=Role.OPS, now=T0)
    settings = FleetSettings(
        database_url=sqlite_db.url,
        jwt_secret="s" * 40,
        diagnosis_in_process=True,
        diagnosis_poll_s=0.05,
    )
    with TestClient(create_app(settings, clock=SystemClock())) as client:
        login = client.post(
            "/api/v1/auth/token", data={"username": "ops", "password": "ops-password"}
        )
        ops = {"Authorization": f"Bearer {login.json()['access_token']}"}
        ev = event("T1", 1, kind="fault", code="DEV.CARD_READER_FAULT")
        r = client.post("/api/v1/ingest", json=ev, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 201
        deadline = time.monotonic() + 10
        incidents: list[dict[str, object]] = []
        while not incidents and time.monotonic() < deadline:
            incidents = client.get("/api/v1/incidents", headers=ops).json()
            time.sleep(0.05)
        assert [(i["rule_id"], i["terminal_id"], i["status"]) for i in incidents] == [
            ("card-reader-fault", "T1", "open")
        ]
        assert client.get("/api/v1/rules", headers=ops).status_code == 200
