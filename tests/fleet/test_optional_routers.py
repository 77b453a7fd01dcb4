"""Routers other faces add to the fleet app keep the access the fleet gives them."""

from __future__ import annotations

from .conftest import Api


def test_merchant_checks_need_a_logged_in_user(api: Api) -> None:
    url = "/api/v1/merchant/onboarding/checklist?merchant_type=company"
    anonymous = api.client.get(url)
    assert anonymous.status_code == 401
    for user in ("m01", "ops"):
        answer = api.client.get(url, headers=api.headers[user])
        assert answer.status_code == 200, answer.text
        assert answer.json()["documents"]


def test_knowledge_base_search_stays_public(api: Api) -> None:
    answer = api.client.get("/api/v1/kb/search", params={"q": "小票打不出来"})
    assert answer.status_code == 200, answer.text
    assert answer.json()


def test_a_lone_surrogate_in_a_body_is_a_422_not_a_500(api: Api) -> None:
    body = b'{"q": 5, "note": "\\ud800"}'
    for url in ("/api/v1/kb/search", "/api/v1/auth/token"):
        answer = api.client.post(url, content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["detail"]
