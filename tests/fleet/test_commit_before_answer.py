"""Every mutating route commits before its answer leaves, and a write that collides with
another becomes 409, not 500.

The order is observed, not inferred: the database engine's ``commit`` event and the ASGI
``http.response.start`` message are recorded in one list, and for each mutating route the
commit must come first. (FastAPI runs a yield dependency's exit after the response by default:
a resolve answered "resolved" while a read right after still saw "acknowledged".) Then a read
right after each write sees it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.config import FleetSettings
from posguard.fleet.context import FleetContext
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.service import DiagnosisService
from posguard.fleet.repo.users import Role, create_user

from .conftest import T0, FleetDB, event, register


@dataclass
class Recorded:
    client: TestClient
    db: FleetDB
    clock: FakeClock
    log: list[str]
    headers: dict[str, str]
    creds: dict[str, str]

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """The response, after checking the commit went before the answer."""
        self.log.clear()
        kw.setdefault("headers", self.headers)
        r = self.client.request(method, path, **kw)
        assert r.status_code < 300, (path, r.status_code, r.text)
        assert "commit" in self.log, f"{method} {path}: nothing committed"
        assert self.log.index("commit") < self.log.index("response"), (
            f"{method} {path}: answered before its commit ({self.log})"
        )
        return r


@pytest.fixture
def recorded(fleet_db: FleetDB, clock: FakeClock) -> Iterator[Recorded]:
    from posguard.fleet.api.app import create_app

    settings = FleetSettings(
        database_url=fleet_db.url,
        jwt_secret="c" * 40,  # type: ignore[arg-type]
        diagnosis_in_process=False,
    )
    ctx = FleetContext.build(settings, clock=clock)
    log: list[str] = []
    lock = threading.Lock()

    def committed(_conn: Any) -> None:
        with lock:
            log.append("commit")

    sa_event.listen(ctx.engine, "commit", committed)
    app = create_app(context=ctx)

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                with lock:
                    log.append("response")
            await send(message)

        await app(scope, receive, sending)

    creds = {t: register(fleet_db, t, merchant_id="M01") for t in ("T1", "T2")}
    with fleet_db.sessions.begin() as s:
        create_user(s, username="admin", password="admin-password", role=Role.ADMIN, now=T0)
    with TestClient(recording) as client:
        r = client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": "admin-password"}
        )
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        yield Recorded(client, fleet_db, clock, log, headers, creds)
    ctx.close()


def _open_incident(rec: Recorded) -> int:
    fault = event("T1", 1, kind="fault", code="PRN.PAPER_OUT")
    rec.call(
        "POST", "/api/v1/ingest", json=fault, headers={"Authorization": f"Bearer {rec.creds['T1']}"}
    )
    catalog = default_catalog()
    diag = DiagnosisService(
        rec.db.sessions, rules=load_rules(catalog=catalog), catalog=catalog, clock=rec.clock
    )
    diag.start()
    diag.step()
    (inc,) = rec.client.get("/api/v1/incidents", headers=rec.headers).json()
    return int(inc["id"])


def test_every_mutating_route_commits_before_it_answers_and_reads_see_it(
    recorded: Recorded,
) -> None:
    rec = recorded
    term = {"model": "PX-5", "brand": "Acme", "firmware": "2.1.0", "acquirer_host": "acq-east"}
    term |= {"area": "pudong", "merchant_id": "M09", "merchant_name": "Nine"}

    r = rec.call("POST", "/api/v1/terminals", json={"id": "T9", **term})
    assert rec.client.get("/api/v1/terminals/T9", headers=rec.headers).json()["id"] == "T9"
    cred = r.json()["credential"]

    rec.call("POST", "/api/v1/terminals/T9/revoke")
    assert rec.client.get("/api/v1/terminals/T9", headers=rec.headers).json()["revoked"] is True

    new = rec.call("POST", "/api/v1/terminals/T9/credential").json()["credential"]
    assert new != cred
    ok = rec.call(
        "POST",
        "/api/v1/ingest",
        json=event("T9", 1, merchant_id="M09"),
        headers={"Authorization": f"Bearer {new}"},
    )
    assert ok.status_code == 201

    cmd = rec.call("POST", "/api/v1/terminals/T9/commands", json={"name": "reboot"}).json()
    assert (
        rec.client.get(f"/api/v1/commands/{cmd['id']}", headers=rec.headers).json()["status"]
        == "pending"
    )
    picked = rec.call(
        "GET", "/api/v1/terminals/T9/commands/pending", headers={"Authorization": f"Bearer {new}"}
    ).json()
    assert [c["command_id"] for c in picked] == [cmd["id"]]
    assert (
        rec.client.get(f"/api/v1/commands/{cmd['id']}", headers=rec.headers).json()["status"]
        == "sent"
    )

    batch = {"events": [event("T9", 2, merchant_id="M09"), event("T9", 3, merchant_id="M09")]}
    rec.call("POST", "/api/v1/ingest/batch", json=batch, headers={"Authorization": f"Bearer {new}"})
    seqs = {
        e["seq"]
        for e in rec.client.get("/api/v1/events?terminal_id=T9", headers=rec.headers).json()
    }
    assert seqs == {1, 2, 3}

    inc = _open_incident(rec)
    rec.call("POST", f"/api/v1/incidents/{inc}/ack")
    got = rec.client.get(f"/api/v1/incidents/{inc}", headers=rec.headers).json()
    assert got["status"] == "acknowledged"
    fixed = {"reason": "other", "text": "replaced the cable", "force": True}
    rec.call("POST", f"/api/v1/incidents/{inc}/resolve", json=fixed)
    got = rec.client.get(f"/api/v1/incidents/{inc}", headers=rec.headers).json()
    assert got["status"] == "resolved"

    sched = {"model": "PX-5", "inspection_interval_days": 90, "firmware_minimum": "2.0.0"}
    rec.call("PUT", "/api/v1/maintenance/schedules", json=sched)
    models = [
        s["model"]
        for s in rec.client.get("/api/v1/maintenance/schedules", headers=rec.headers).json()
    ]
    assert models == ["PX-5"]
    rec.call(
        "POST", "/api/v1/maintenance/records", json={"terminal_id": "T9", "kind": "inspection"}
    )

    user = {"username": "m09", "password": "m09-password", "role": "merchant", "merchant_id": "M09"}
    rec.call("POST", "/api/v1/users", json=user)
    login = rec.client.post(
        "/api/v1/auth/token", data={"username": "m09", "password": "m09-password"}
    )
    assert login.status_code == 200

    rec.call("POST", "/api/v1/merchants", json={"id": "M10", "name": "Ten"})
    found = rec.client.get("/api/v1/merchants?search=ten", headers=rec.headers).json()
    assert [m["id"] for m in found] == ["M10"]

    body = "id,merchant_id,model,acquirer_host,area\nT10,M10,PX-5,acq-east,pudong\n"
    imported = rec.call(
        "POST",
        "/api/v1/provision/import",
        content=body.encode(),
        headers={**rec.headers, "Content-Type": "text/csv"},
    ).json()
    assert imported["created"]["terminals"] == 1
    assert rec.client.get("/api/v1/terminals/T10", headers=rec.headers).status_code == 200


def test_a_conflicting_write_is_409_not_500(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two registrations of one id at once: the later one's existence check passed before the
    first committed (simulated by skipping it); its insert then fails on the key: 409."""
    from posguard.fleet.api.routes import terminals as route

    body = {"id": "T1", "merchant_id": "M01", "model": "PX-5", "brand": "Acme", "firmware": "1"}
    body |= {"acquirer_host": "acq-east", "area": "pudong"}
    real = route.repo.get_terminal
    monkeypatch.setattr(
        route.repo, "get_terminal", lambda s, *, terminal_id, merchant_id=None: None
    )
    r = recorded.client.post("/api/v1/terminals", json=body, headers=recorded.headers)
    assert r.status_code == 409, r.text
    assert "INSERT" not in r.text
    assert "credential_hash" not in r.text
    monkeypatch.setattr(route.repo, "get_terminal", real)
    assert recorded.client.get("/api/v1/terminals/T1", headers=recorded.headers).status_code == 200


@pytest.mark.postgres
def test_concurrent_registrations_of_one_new_merchant_all_succeed(pg_db: FleetDB) -> None:
    """Sixteen terminals of one merchant that does not exist yet, registered at once (the
    review saw 36 ``500``s, duplicate merchant key): each is 201."""
    from posguard.fleet.api.app import create_app

    settings = FleetSettings(
        database_url=pg_db.url,
        jwt_secret="c" * 40,  # type: ignore[arg-type]
        diagnosis_in_process=False,
    )
    with pg_db.sessions.begin() as s:
        create_user(s, username="admin", password="admin-password", role=Role.ADMIN, now=T0)
    with TestClient(create_app(settings)) as client:
        tok = client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": "admin-password"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {tok}"}

        def add(i: int) -> int:
            body = {"id": f"C{i}", "merchant_id": "MNEW", "model": "PX-5", "brand": "Acme"}
            body |= {"firmware": "1", "acquirer_host": "acq-east", "area": "pudong"}
            return client.post("/api/v1/terminals", json=body, headers=headers).status_code

        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(add, range(16)))
    assert codes == [201] * 16
