"""The predictive-maintenance pages over HTTP: a terminal without wear counters, merchant
confinement, CSRF and staff-only recording."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from posguard.fleet.api.app import create_app

from .conftest import Seeded
from .test_pages import login


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    with TestClient(create_app(seeded.settings), base_url="http://127.0.0.1") as c:
        yield c


def test_cards_and_list_without_counters_and_confinement(client: TestClient) -> None:
    csrf = login(client, "shop1")
    page = client.get("/ui/maintenance")
    assert page.status_code == 200
    assert 'id="no-visits"' in page.text
    card = client.get("/ui/terminals/T1001/prediction")
    assert card.status_code == 200
    assert 'id="prediction-none"' in card.text
    assert 'id="visit-form"' not in card.text  # a merchant does not record visits
    assert client.get("/ui/terminals/T2001/prediction").status_code == 404  # not its terminal
    r = client.post(
        "/ui/terminals/T1001/visits",
        data={"csrf": csrf, "outcome": "not_confirmed"},
        follow_redirects=False,
    )
    assert r.status_code == 403


def test_recording_needs_the_csrf_token_and_a_prediction(client: TestClient) -> None:
    csrf = login(client, "ops")
    r = client.post(
        "/ui/terminals/T1001/visits", data={"outcome": "confirmed"}, follow_redirects=False
    )
    assert r.status_code == 403  # no CSRF token
    r = client.post(
        "/ui/terminals/T1001/visits",
        data={"csrf": csrf, "outcome": "confirmed", "part_replaced": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 409  # no counters, no prediction: nothing to confirm
    assert "name the component" in r.text
