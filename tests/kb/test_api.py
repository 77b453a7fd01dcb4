"""The knowledge-base router, mounted the way the fleet service mounts it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from posguard.catalog.checks import CheckResult
from posguard.catalog.loader import Catalog
from posguard.kb.api import make_router, router
from posguard.kb.search import KnowledgeBase
from posguard.kb.sessions import SessionStore
from posguard.kb.wizard import CheckOutcome, CheckRequest

PREFIX = "/api/v1/kb"


def _client(**kwargs: object) -> TestClient:
    app = FastAPI()
    app.include_router(make_router(**kwargs))  # type: ignore[arg-type]
    return TestClient(app)


@pytest.fixture
def client() -> TestClient:
    return _client()


def test_the_module_router_is_what_the_fleet_includes() -> None:
    app = FastAPI()
    app.include_router(router)  # as posguard.fleet.api.app does: no prefix of its own
    client = TestClient(app)
    assert client.get(f"{PREFIX}/search", params={"q": "91"}).status_code == 200
    sid = client.post(f"{PREFIX}/walk", json={"code": "NET.DNS_FAILURE"}).json()["session_id"]
    assert client.get(f"{PREFIX}/walk/{sid}").status_code == 200
    assert client.get("/search", params={"q": "91"}).status_code == 404


def test_search_returns_ranked_codes_with_reasons(client: TestClient) -> None:
    r = client.get(f"{PREFIX}/search", params={"q": "小票打不出来 没纸了", "limit": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["hits"][0]["code"] == "PRN.PAPER_OUT"
    assert len(body["hits"]) <= 3
    assert body["hits"][0]["why"]["matches"]


def test_search_with_a_bare_response_code(client: TestClient) -> None:
    hit = client.get(f"{PREFIX}/search", params={"q": "51"}).json()["hits"][0]
    assert (hit["code"], hit["why"]["response_code"]) == ("TXN.INSUFFICIENT_FUNDS", "51")


@pytest.mark.parametrize("q", ["", "   ", "<script>alert(1)</script>", "' OR 1=1 --", "x" * 4000])
def test_search_never_fails_on_odd_queries(client: TestClient, q: str) -> None:
    r = client.get(f"{PREFIX}/search", params={"q": q})
    assert r.status_code == 200
    body = r.json()
    assert body["hits"] or body["reason"]


def test_long_complaints_go_by_post(client: TestClient) -> None:
    q = "打印机没纸了 " + "啊" * 99_000
    body = client.post(f"{PREFIX}/search", json={"q": q, "limit": 2}).json()
    assert body["hits"][0]["code"] == "PRN.PAPER_OUT"
    assert body["notes"]  # says the query was cut
    too_big = client.post(f"{PREFIX}/search", json={"q": "x" * 100_001})
    assert too_big.status_code == 422


def test_search_rejects_bad_parameters(client: TestClient) -> None:
    assert client.get(f"{PREFIX}/search", params={"q": "x", "limit": 0}).status_code == 422
    assert client.get(f"{PREFIX}/search", params={"q": "x", "lang": "fr"}).status_code == 422
    assert client.get(f"{PREFIX}/search").status_code == 422


def test_entry_in_both_languages(client: TestClient) -> None:
    zh = client.get(f"{PREFIX}/entries/prn.paper_out").json()
    en = client.get(f"{PREFIX}/entries/PRN.PAPER_OUT", params={"lang": "en"}).json()
    assert zh["code"] == en["code"] == "PRN.PAPER_OUT"
    assert zh["title"] != en["title"]
    assert client.get(f"{PREFIX}/entries/NOPE.NOPE").status_code == 404


def test_walk_from_a_complaint_to_an_escalation(walk_catalog: Catalog) -> None:
    seen: list[CheckRequest] = []

    def status(req: CheckRequest) -> CheckOutcome:
        seen.append(req)
        return CheckOutcome(CheckResult.FAIL, "PRN.PAPER_OUT")

    client = _client(runners={"printer.status": status}, kb=lambda: KnowledgeBase(walk_catalog))
    r = client.post(f"{PREFIX}/walk", json={"query": "no paper", "terminal_id": "T9", "lang": "en"})
    assert r.status_code == 201
    view = r.json()
    sid = view["session_id"]
    assert view["code"] == "PRN.PAPER_OUT"
    assert view["step"]["check"]["result"] == "fail"
    assert seen[0].terminal_id == "T9"
    for _ in range(3):
        view = client.post(f"{PREFIX}/walk/{sid}", json={"answer": "not_solved"}).json()
    assert view["status"] == "escalated"
    esc = view["escalation"]
    assert esc["terminal_id"] == "T9"
    assert [a["answer"] for a in esc["answers"]] == ["not_solved"] * 3
    assert esc["checks"][0]["check"] == "printer.status"
    assert client.get(f"{PREFIX}/walk/{sid}").json()["status"] == "escalated"
    again = client.post(f"{PREFIX}/walk/{sid}", json={"answer": "solved"})
    assert again.status_code == 409


def test_walk_by_code_and_solve(client: TestClient) -> None:
    view = client.post(f"{PREFIX}/walk", json={"code": "NET.DNS_FAILURE"}).json()
    assert view["step"]["number"] == 1
    done = client.post(f"{PREFIX}/walk/{view['session_id']}", json={"answer": "solved"}).json()
    assert done["status"] == "solved"
    assert done["step"] is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": "NET.DNS_FAILURE", "query": "dns"},
        {"code": "NET.DNS_FAILURE", "lang": "fr"},
        {"code": "NET.DNS_FAILURE", "extra": 1},
    ],
)
def test_walk_start_rejects_bad_bodies(client: TestClient, body: dict[str, object]) -> None:
    assert client.post(f"{PREFIX}/walk", json=body).status_code == 422


def test_walk_errors_say_what(client: TestClient) -> None:
    assert client.post(f"{PREFIX}/walk", json={"code": "NET.NOPE"}).status_code == 404
    assert client.post(f"{PREFIX}/walk", json={"query": "!!!"}).status_code == 404
    assert client.get(f"{PREFIX}/walk/unknown").status_code == 404
    sid = client.post(f"{PREFIX}/walk", json={"code": "NET.DNS_FAILURE"}).json()["session_id"]
    bad = client.post(f"{PREFIX}/walk/{sid}", json={"answer": "maybe"})
    assert bad.status_code == 422


def test_sessions_expire() -> None:
    now = [0.0]
    client = _client(store=SessionStore(ttl_s=60, clock=lambda: now[0]))
    sid = client.post(f"{PREFIX}/walk", json={"code": "NET.DNS_FAILURE"}).json()["session_id"]
    now[0] = 59.0
    assert client.get(f"{PREFIX}/walk/{sid}").status_code == 200  # renews
    now[0] = 118.0
    assert client.get(f"{PREFIX}/walk/{sid}").status_code == 200
    now[0] = 500.0
    assert client.get(f"{PREFIX}/walk/{sid}").status_code == 404
