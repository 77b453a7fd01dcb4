"""HTTP ingest: terminal credentials, per-event results, resends stored once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from posguard.fleet.api.schemas.events import BatchResultPublic
from posguard.fleet.db.models import EventRow

from .conftest import T0, Api, event


def _count(api: Api) -> int:
    with api.db.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(EventRow)) or 0)


def test_single_event_is_stored_then_a_resend_is_a_duplicate(api: Api) -> None:
    ev = event("T1", 1, kind="fault", code="PRN.PAPER_OUT")
    r = api.client.post("/api/v1/ingest", json=ev, headers=api.as_terminal("T1"))
    assert (r.status_code, r.json()["outcome"]) == (201, "stored")
    r = api.client.post("/api/v1/ingest", json=ev, headers=api.as_terminal("T1"))
    assert (r.status_code, r.json()["outcome"]) == (200, "duplicate")
    assert _count(api) == 1


def test_bad_event_is_rejected_with_a_reason(api: Api) -> None:
    ev = event("T1", 1, kind="fault")  # a fault needs a code
    r = api.client.post("/api/v1/ingest", json=ev, headers=api.as_terminal("T1"))
    assert r.status_code == 422
    (detail,) = r.json()["detail"]  # the documented 422 shape: a list saying where and what
    assert detail["loc"] == ["body"]
    assert "needs a catalog code" in detail["msg"]
    assert _count(api) == 0


def test_batch_lands_the_good_events_and_explains_each_bad_one(api: Api) -> None:
    events = [
        event("T1", 1),
        event("T1", 2, kind="fault", code="NOPE.NOT_IN_CATALOG"),
        event("T2", 3),  # T1's credential cannot speak for T2
        {"v": 1, "terminal_id": "T1"},
        event("T1", 1),  # resend inside the batch
        event("T1", 4, merchant_id="M02"),  # wrong merchant for T1
        event("T1", 5, data={"pan": "4111111111111111"}),  # a clear PAN never lands
        event("T1", 6, kind="transaction", ts=T0 + timedelta(seconds=5), data={"rc": "00"}),
    ]
    r = api.client.post(
        "/api/v1/ingest/batch", json={"events": events}, headers=api.as_terminal("T1")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    BatchResultPublic.model_validate(body)  # the hand-built response keeps the documented shape
    assert (body["stored"], body["duplicate"], body["rejected"]) == (2, 1, 5)
    outcome = {res["index"]: (res["outcome"], res["reason"] or "") for res in body["results"]}
    assert outcome[0][0] == outcome[7][0] == "stored"
    assert outcome[4][0] == "duplicate"
    assert "not in the exception catalog" in outcome[1][1]
    assert "does not match the credential" in outcome[2][1]
    assert "Field required" in outcome[3][1]
    assert "not the merchant" in outcome[5][1]
    assert "clear card number" in outcome[6][1]
    assert _count(api) == 2
    # what the terminal may forget: stored or already stored; a refused event stays with it
    assert body["confirmed"] == [[1, 1], [6, 6]]


def test_unknown_or_wrong_credential_is_401_and_revoked_is_403(api: Api) -> None:
    ev = event("T1", 1)
    assert api.client.post("/api/v1/ingest", json=ev).status_code == 401
    bad = {"Authorization": f"Bearer {api.creds['T1'][:-2]}xx"}
    assert api.client.post("/api/v1/ingest", json=ev, headers=bad).status_code == 401
    ghost = {"Authorization": "Bearer GHOST.0123456789abcdefghijk"}
    assert api.client.post("/api/v1/ingest", json=ev, headers=ghost).status_code == 401
    r = api.client.post("/api/v1/terminals/T1/revoke", headers=api.headers["ops"])
    assert r.status_code == 200
    assert (
        api.client.post("/api/v1/ingest", json=ev, headers=api.as_terminal("T1")).status_code == 403
    )
    # rotating issues a new credential; the old one stays dead
    r = api.client.post("/api/v1/terminals/T1/credential", headers=api.headers["admin"])
    new = {"Authorization": f"Bearer {r.json()['credential']}"}
    assert (
        api.client.post("/api/v1/ingest", json=ev, headers=api.as_terminal("T1")).status_code == 401
    )
    assert api.client.post("/api/v1/ingest", json=ev, headers=new).status_code == 201
    assert _count(api) == 1


def test_oversized_batch_is_refused_whole(api: Api) -> None:
    events = [event("T1", i) for i in range(1001)]
    r = api.client.post(
        "/api/v1/ingest/batch", json={"events": events}, headers=api.as_terminal("T1")
    )
    assert r.status_code == 413
    assert _count(api) == 0


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        (b'{"events": [', "body", "not JSON"),
        (b'[{"seq": 1}]', "body", "must be a JSON object"),
        (b'{"evts": []}', "events", "missing"),
        (b'{"events": {"seq": 1}}', "events", "must be an array"),
    ],
)
def test_a_body_that_is_not_a_batch_is_a_422_that_says_where(
    api: Api, body: bytes, where: str, says: str
) -> None:
    r = api.client.post(
        "/api/v1/ingest/batch",
        content=body,
        headers={**api.as_terminal("T1"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert detail["loc"] == ["body", where]
    assert says in detail["msg"]
    assert _count(api) == 0


def test_a_body_over_the_byte_limit_is_refused_before_it_is_parsed(api: Api) -> None:
    limit = api.client.app.state.fleet.settings.ingest_body_max_bytes  # type: ignore[attr-defined]
    pad = "x" * 1000
    events = [event("T1", i, data={"pad": pad}) for i in range(limit // 1000 + 1)]
    r = api.client.post(
        "/api/v1/ingest/batch", json={"events": events}, headers=api.as_terminal("T1")
    )
    assert r.status_code == 413
    assert f"over {limit} bytes" in r.json()["detail"]
    assert _count(api) == 0


def test_an_empty_batch_stores_nothing_and_says_so(api: Api) -> None:
    r = api.client.post("/api/v1/ingest/batch", json={"events": []}, headers=api.as_terminal("T1"))
    assert r.status_code == 200
    assert r.json() == {
        "stored": 0,
        "duplicate": 0,
        "rejected": 0,
        "results": [],
        "confirmed": [],
    }


def _newest_migration() -> str:
    """The head of the shipped migrations (read from them, so a new migration needs no edit
    here)."""
    from alembic.script import ScriptDirectory

    from posguard.fleet.db.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def test_health_readiness_and_metrics(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["schema"] == _newest_migration()
    api.client.post("/api/v1/ingest", json=event("T1", 1), headers=api.as_terminal("T1"))
    text = api.client.get("/metrics").text
    assert 'posguard_fleet_events_total{outcome="stored",transport="http"}' in text


def _chunked(data: bytes, size: int = 16_384) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_event_over_64_kib_is_a_413_on_the_single_path_and_nothing_is_stored(
    api: Api, chunked: bool
) -> None:
    body = json.dumps(event("T1", 1, data={"pad": "x" * 70_000})).encode()
    headers = {**api.as_terminal("T1"), "Content-Type": "application/json"}
    content: bytes | Iterator[bytes] = _chunked(body * 30) if chunked else body  # 2 MB chunked
    r = api.client.post("/api/v1/ingest", content=content, headers=headers)
    assert r.status_code == 413, r.text
    assert _count(api) == 0


def test_an_event_over_64_kib_in_a_batch_is_refused_and_the_rest_stored(api: Api) -> None:
    events = [event("T1", 1), event("T1", 2, data={"pad": "x" * 70_000}), event("T1", 3)]
    r = api.client.post(
        "/api/v1/ingest/batch", json={"events": events}, headers=api.as_terminal("T1")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [res["outcome"] for res in body["results"]] == ["stored", "rejected", "stored"]
    assert "larger than 65536 bytes" in body["results"][1]["reason"]
    assert body["confirmed"] == [[1, 1], [3, 3]]
    assert _count(api) == 2


@pytest.mark.parametrize("path", ["/api/v1/ingest", "/api/v1/ingest/batch"])
def test_json_nested_thousands_deep_is_a_422_not_a_server_error(api: Api, path: str) -> None:
    deep = "[" * 3000 + "]" * 3000
    one = json.dumps(event("T1", 1, data={"x": 0})).replace('"x": 0', f'"x": {deep}')
    body = one if path.endswith("/ingest") else '{"events": [' + one + "]}"
    r = api.client.post(
        path,
        content=body.encode(),
        headers={**api.as_terminal("T1"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert _count(api) == 0


def test_the_schema_is_what_is_accepted_booleans_and_numbers_for_dates_are_not(api: Api) -> None:
    r = api.client.post(
        "/api/v1/ingest", json={**event("T1", 1), "seq": True}, headers=api.as_terminal("T1")
    )
    assert r.status_code == 422
    r = api.client.get("/api/v1/events", params={"since": "0.5"}, headers=api.headers["admin"])
    assert r.status_code == 422
    r = api.client.get(
        "/api/v1/events", params={"since": "2026-11-25T10:00:00Z"}, headers=api.headers["admin"]
    )
    assert r.status_code == 200
    r = api.client.post(
        "/api/v1/ingest",
        content=b"\xff{not json",
        headers={**api.as_terminal("T1"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422  # documented, where FastAPI alone answers an undocumented 400
