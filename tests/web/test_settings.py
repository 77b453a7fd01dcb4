"""Per-user time zone: saved in user_prefs, used by every page's times; by language when unset
(Beijing time for Chinese, UTC for English); an unknown zone is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from posguard.fleet.api.app import create_app

from .conftest import T0, Seeded, event
from .test_pages import ingest, login


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    settings = seeded.settings.model_copy(update={"diagnosis_in_process": False})
    with TestClient(
        create_app(settings), base_url="http://127.0.0.1", headers={"Accept-Language": "en"}
    ) as c:
        yield c


def _first_time(html: str) -> str:
    found = re.search(r'<ol class="timeline".*?<time [^>]*>([^<]+)</time>', html, re.S)
    assert found is not None
    return found[1]


def test_time_zone_changes_every_time_shown(client: TestClient, seeded: Seeded) -> None:
    ingest(client, seeded, "T1001", [event("T1001", 1, "lifecycle", T0, event="start")])
    csrf = login(client, "ops")
    assert _first_time(client.get("/ui/terminals/T1001").text) == "2026-11-25 10:00:00 UTC"
    r = client.post(
        "/ui/settings",
        data={"csrf": csrf, "time_zone": "Asia/Shanghai"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert 'id="settings-saved"' in client.get(r.headers["location"]).text
    assert _first_time(client.get("/ui/terminals/T1001").text) == "2026-11-25 18:00:00 UTC+8"
    bad = client.post("/ui/settings", data={"csrf": csrf, "time_zone": "Mars/Olympus"})
    assert bad.status_code == 422
    client.post("/ui/settings", data={"csrf": csrf, "time_zone": ""})
    assert _first_time(client.get("/ui/terminals/T1001").text) == "2026-11-25 10:00:00 UTC"


def test_chinese_reads_beijing_time_by_default(client: TestClient, seeded: Seeded) -> None:
    ingest(client, seeded, "T1001", [event("T1001", 1, "lifecycle", T0, event="start")])
    client.headers["Accept-Language"] = "zh-CN"
    login(client, "admin")
    assert _first_time(client.get("/ui/terminals/T1001").text) == "2026-11-25 18:00:00"
