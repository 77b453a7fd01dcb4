"""Administration over HTTP: admin only; users created with the API's rules, disabled (their
session ends at once); a terminal moved to another merchant (old credential dead, new one
works as the new merchant's, waiting commands expired), its credential rotated or revoked;
an inspection recorded moves its next-inspection date."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from posguard.fleet.api.app import create_app

from .conftest import T0, Seeded, event
from .test_pages import login


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    settings = seeded.settings.model_copy(update={"diagnosis_in_process": False})
    with TestClient(
        create_app(settings), base_url="http://127.0.0.1", headers={"Accept-Language": "en"}
    ) as c:
        yield c


def _post_event(c: TestClient, token: str, tid: str, merchant: str, seq: int) -> int:
    body = {"events": [{**event(tid, seq, "heartbeat", T0), "merchant_id": merchant}]}
    r = c.post("/api/v1/ingest/batch", json=body, headers={"Authorization": f"Bearer {token}"})
    return r.status_code if r.status_code != 200 else int(r.json()["stored"] == 1) * 200


def test_only_admins(client: TestClient) -> None:
    login(client, "ops")
    assert client.get("/ui/admin").status_code == 403
    assert client.get("/ui/admin/terminals/T1001").status_code == 403
    assert 'href="/ui/admin"' not in client.get("/ui/").text
    client.cookies.clear()
    login(client, "admin")
    page = client.get("/ui/admin").text
    assert 'data-user="shop1"' in page
    assert 'href="/ui/admin"' in client.get("/ui/").text


def test_users_created_with_the_api_rules_and_disabled(client: TestClient) -> None:
    csrf = login(client, "admin")
    form = {"csrf": csrf, "username": "shop3", "password": "long enough pw", "role": "merchant"}
    r = client.post("/ui/admin/users", data=form)
    assert r.status_code == 422  # a merchant user needs its merchant
    r = client.post("/ui/admin/users", data={**form, "merchant_id": "M09"})
    assert r.status_code == 422
    assert "no merchant M09" in r.text
    r = client.post("/ui/admin/users", data={**form, "password": "short"})
    assert r.status_code == 422
    assert "password" in r.text
    r = client.post("/ui/admin/users", data={**form, "merchant_id": "M02"}, follow_redirects=False)
    assert r.status_code == 303
    assert client.post("/ui/admin/users", data={**form, "merchant_id": "M02"}).status_code == 409

    other = TestClient(client.app, base_url="http://127.0.0.1")
    page = other.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    other.post(
        "/ui/login", data={"username": "shop3", "password": "long enough pw", "csrf": token[1]}
    )
    assert other.get("/ui/inventory", follow_redirects=False).status_code == 200
    r = client.post("/ui/admin/users/shop3/disable", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert other.get("/ui/inventory", follow_redirects=False).status_code == 303  # ended
    assert 'data-user="shop3" data-disabled="yes"' in client.get("/ui/admin").text
    assert client.post("/ui/admin/users/admin/disable", data={"csrf": csrf}).status_code == 409


def test_transfer_rotate_and_revoke(client: TestClient, seeded: Seeded) -> None:
    csrf = login(client, "admin")
    old = seeded.credentials["T1001"]
    assert _post_event(client, old, "T1001", "M01", 1) == 200
    # a command waiting for T1001 under its old merchant
    client.post(
        "/ui/terminals/T1001/commands", data={"csrf": csrf, "name": "reboot", "confirm": "yes"}
    )
    r = client.post(
        "/ui/admin/terminals/T1001/transfer",
        data={"csrf": csrf, "merchant_id": "M02"},
    )
    assert r.status_code == 200
    new = re.search(r'<code id="credential">([^<]+)</code>', r.text)
    assert new is not None
    assert 'id="admin-merchant">M02<' in r.text
    assert _post_event(client, old, "T1001", "M02", 2) == 401  # the old credential is dead
    assert _post_event(client, new[1], "T1001", "M01", 2) != 200  # the old merchant is refused
    assert _post_event(client, new[1], "T1001", "M02", 2) == 200
    cmds = client.get("/ui/terminals/T1001/commands").text
    assert 'data-status="expired"' in cmds
    assert (
        client.post(
            "/ui/admin/terminals/T1001/transfer", data={"csrf": csrf, "merchant_id": "M02"}
        ).status_code
        == 409
    )

    rotated = client.post("/ui/admin/terminals/T1001/credential", data={"csrf": csrf})
    newer = re.search(r'<code id="credential">([^<]+)</code>', rotated.text)
    assert newer is not None
    assert _post_event(client, new[1], "T1001", "M02", 3) == 401
    assert _post_event(client, newer[1], "T1001", "M02", 3) == 200
    client.post("/ui/admin/terminals/T1001/revoke", data={"csrf": csrf})
    assert 'id="revoked"' in client.get("/ui/admin/terminals/T1001").text
    assert _post_event(client, newer[1], "T1001", "M02", 4) != 200

    client.cookies.clear()
    login(client, "shop2")
    assert client.get("/ui/terminals/T1001").status_code == 200
    client.cookies.clear()
    login(client, "shop1")
    assert client.get("/ui/terminals/T1001").status_code == 404


def test_an_inspection_moves_the_next_due_date(client: TestClient) -> None:
    csrf = login(client, "admin")
    before = client.get("/ui/terminals/T1001").text
    assert "overdue" in before  # PX-5 every 180 days since its install in January 2025
    r = client.post(
        "/ui/admin/terminals/T1001/maintenance",
        data={"csrf": csrf, "kind": "inspection", "note": "cleaned the reader"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "cleaned the reader" in page
    after = client.get("/ui/terminals/T1001").text
    assert "overdue" not in after
    due = datetime.now(UTC).date() + timedelta(days=180)  # the app runs on the real clock
    assert due.isoformat() in after
    bad = client.post(
        "/ui/admin/terminals/T1001/maintenance",
        data={"csrf": csrf, "kind": "inspection", "performed_on": "2030-01-01"},
    )
    assert bad.status_code == 422
    assert (
        client.post(
            "/ui/admin/terminals/T1001/maintenance", data={"csrf": csrf, "kind": "painting"}
        ).status_code
        == 422
    )
