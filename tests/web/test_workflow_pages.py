"""The incident workflow and the notifications page over HTTP (no browser): refusals as pages
that say why, the SLA breach highlighted in the incident list (a policy file with short
targets and an injected clock), staff-only forms and page, and a notifications page that shows
only what its own log says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from posguard.fleet.api.app import create_app
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import Incident
from posguard.fleet.notify.settings import get_notify_settings
from posguard.fleet.repo.incidents import open_key

from .conftest import T0, Seeded
from .test_pages import login


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text("sla:\n  minor: {ack_min: 5, resolve_min: 60}\n", encoding="utf-8")
    monkeypatch.setenv("POSGUARD_FLEET_INCIDENT_POLICY", str(path))
    return path


@pytest.fixture
def app_client(seeded: Seeded, clock: FakeClock, policy: Path) -> Iterator[TestClient]:
    with TestClient(create_app(seeded.settings, clock=clock), base_url="http://127.0.0.1") as c:
        yield c


def _incident(seeded: Seeded, terminal: str = "T1002") -> int:
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine).begin() as s:
        inc = Incident(
            rule_id="printer-paper-out",
            scope=f"terminal:{terminal}",
            open_key=open_key("printer-paper-out", f"terminal:{terminal}"),
            code="PRN.PAPER_OUT",
            severity="minor",
            status="open",
            terminal_id=terminal,
            merchant_id="M01",
            explanation={"reason": "paper out"},
            opened_at=T0,
        )
        s.add(inc)
        s.flush()
        iid = inc.id
    engine.dispose()
    return iid


def test_the_list_highlights_a_breach_and_shows_the_assignee(
    app_client: TestClient, seeded: Seeded, clock: FakeClock
) -> None:
    inc = _incident(seeded)
    csrf = login(app_client, "ops")
    r = app_client.post(
        f"/ui/incidents/{inc}/assign",
        data={"csrf": csrf, "assignee": "team:network"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    listed = app_client.get("/ui/incidents").text
    assert 'class="badge sla-breached"' not in listed
    assert '<td class="assignee">' in listed
    assert "网络组" in listed or "Network" in listed
    clock.advance(6 * 60)  # the policy file: 5 minutes to acknowledge a minor incident
    listed = app_client.get("/ui/incidents").text
    assert 'class="badge sla-breached"' in listed
    page = app_client.get(f"/ui/incidents/{inc}").text
    assert 'id="sla-ack" data-state="breached"' in page
    assert 'id="sla-resolve" data-state="running"' in page
    assert '<dd id="age">6m</dd>' in page


def test_refusals_are_pages_that_say_why(app_client: TestClient, seeded: Seeded) -> None:
    inc = _incident(seeded)
    csrf = login(app_client, "ops")

    def post(action: str, **form: str) -> tuple[int, str]:
        r = app_client.post(f"/ui/incidents/{inc}/{action}", data={"csrf": csrf, **form})
        return r.status_code, r.text

    code, text = post("resolve", reason="other")
    assert code == 422
    assert "the resolution&#39;s text is required" in text
    code, text = post("assign", assignee="team:nobody")
    assert code == 422
    assert "unknown team" in text
    code, text = post("reopen", reason="why not")
    assert code == 409
    assert "only a resolved one reopens" in text
    code, text = post("notes", text="")
    assert code == 422


def test_forms_and_the_notifications_page_are_staff_only(
    app_client: TestClient, seeded: Seeded
) -> None:
    inc = _incident(seeded)
    csrf = login(app_client, "shop1")
    page = app_client.get(f"/ui/incidents/{inc}").text
    assert 'id="assign-form"' not in page
    assert 'id="nav-notifications"' not in page
    for action, form in (("assign", {"assignee": "user:ops"}), ("notes", {"text": "x"})):
        r = app_client.post(f"/ui/incidents/{inc}/{action}", data={"csrf": csrf, **form})
        assert r.status_code == 403
    assert app_client.get("/ui/admin/notifications").status_code == 403


def test_the_notifications_page_without_a_configuration(
    seeded: Seeded, clock: FakeClock, policy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSGUARD_NOTIFY_CONFIG", raising=False)
    get_notify_settings.cache_clear()
    with TestClient(create_app(seeded.settings, clock=clock), base_url="http://127.0.0.1") as c:
        csrf = login(c, "admin")
        page = c.get("/ui/admin/notifications?tested=x&detail=<b>forged</b>").text
        assert 'id="notify-off"' in page
        assert 'id="test-result"' not in page  # no outcome but the log's own
        assert "<b>forged</b>" not in page
        r = c.post("/ui/admin/notifications/test", data={"csrf": csrf, "channel": "ops"})
        assert r.status_code == 409
    get_notify_settings.cache_clear()


def test_a_reason_longer_than_the_list_allows_is_refused(
    app_client: TestClient, seeded: Seeded
) -> None:
    inc = _incident(seeded)
    csrf = login(app_client, "ops")
    r = app_client.post(
        f"/ui/incidents/{inc}/resolve",
        data={"csrf": csrf, "reason": "x" * 40, "force": "yes"},
    )
    assert r.status_code == 422
    assert app_client.get(f"/ui/incidents/{inc}").text.count('data-action="resolved"') == 0
