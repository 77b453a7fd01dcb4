"""Bulk actions over HTTP: a selection (filter, ticked list, incident), the commands each
terminal can run (from its heartbeat), one confirmation, one command per capable terminal
through the ordinary command path, and the progress fragment as answers arrive."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from posguard.fleet import bulk
from posguard.fleet.api.app import create_app
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import BulkAction, Command, Incident, TerminalLiveness
from posguard.fleet.web import option_cache

from .conftest import PASSWORD, T0, Seeded, event
from .test_pages import ingest, login

WITH_PRINTER = ["doctor", "re_sign_on", "reboot", "reprint", "rollback", "settle"]
NO_PRINTER = ["doctor", "re_sign_on", "reboot", "rollback", "settle"]


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    option_cache.forget()
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine).begin() as s:
        for tid, mid, commands in (
            ("T1001", "M01", WITH_PRINTER),
            ("T1002", "M01", NO_PRINTER),  # no printer: no reprint
            ("T2001", "M02", WITH_PRINTER),
        ):
            s.add(
                TerminalLiveness(
                    terminal_id=tid,
                    merchant_id=mid,
                    last_heartbeat_at=T0,
                    received_at=T0,
                    seq=1,
                    interval_s=60.0,
                    data={"commands": commands, "firmware": "2.1.0"},
                )
            )
    engine.dispose()
    # diagnosis off: these tests write the liveness rows themselves
    settings = seeded.settings.model_copy(update={"diagnosis_in_process": False})
    with TestClient(
        create_app(settings), base_url="http://127.0.0.1", headers={"Accept-Language": "en"}
    ) as c:
        yield c


def _commands(seeded: Seeded) -> list[tuple[str, str, int | None]]:
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine)() as s:
        rows = s.execute(
            select(Command.terminal_id, Command.name, Command.bulk_id).order_by(Command.terminal_id)
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_filter_selection_offers_what_each_terminal_can_run(client: TestClient) -> None:
    login(client, "ops")
    page = client.get("/ui/bulk/new?model=PX-5&sort=model").text
    assert re.search(r'id="bulk-count">3<', page)
    assert re.search(r'data-can="reprint">2 of 3 can run it<', page)
    assert re.search(r'data-can="reboot">3 of 3 can run it<', page)
    # a parameter push is offered, but none of these terminals said it can take one
    assert re.search(r'data-can="update_config">0 of 3 can run it<', page)
    assert '<input type="hidden" name="model" value="PX-5">' in page


def test_one_confirmation_then_one_command_per_capable_terminal(
    client: TestClient, seeded: Seeded
) -> None:
    csrf = login(client, "ops")
    form = {"csrf": csrf, "name": "reprint", "model": "PX-5"}
    confirm = client.post("/ui/bulk", data=form)
    assert confirm.status_code == 200
    assert "Send “Reprint” to 2 terminals." in confirm.text
    assert re.search(r'id="bulk-skipped"[^>]*>Not sent to 1 \(cannot run it\).*T1002', confirm.text)
    assert _commands(seeded) == []  # nothing sent before the confirmation
    sent = client.post("/ui/bulk", data={**form, "confirm": "yes"}, follow_redirects=False)
    assert sent.status_code == 303
    bulk_url = sent.headers["location"]
    bulk_id = int(bulk_url.rsplit("/", 1)[1])
    assert _commands(seeded) == [("T1001", "reprint", bulk_id), ("T2001", "reprint", bulk_id)]

    page = client.get(bulk_url).text
    assert 'data-done="no"' in page
    assert 'hx-get="/ui/bulk/' in page
    assert 'data-terminal="T1002" data-status="skipped"' in page

    # T1001 picks it up and answers; the fragment shows its answer, T2001 still waits
    auth = {"Authorization": f"Bearer {seeded.credentials['T1001']}"}
    (cmd,) = client.get("/api/v1/terminals/T1001/commands/pending", headers=auth).json()
    result = event(
        "T1001",
        5,
        "command_result",
        T0 + timedelta(minutes=1),
        command_id=cmd["command_id"],
        status="ok",
        detail="reprint queued as job 7",
    )
    ingest(client, seeded, "T1001", [result])
    frag = client.get(f"{bulk_url}/progress").text
    assert 'data-terminal="T1001" data-status="succeeded"' in frag
    assert "reprint queued as job 7" in frag
    assert re.search(r'id="bulk-answered">1<', frag)
    assert 'data-done="no"' in frag

    t2 = {"Authorization": f"Bearer {seeded.credentials['T2001']}"}
    (cmd2,) = client.get("/api/v1/terminals/T2001/commands/pending", headers=t2).json()
    answer = event(
        "T2001",
        5,
        "command_result",
        T0,
        command_id=cmd2["command_id"],
        status="failed",
        detail="no receipt has been printed yet",
    )
    ingest(client, seeded, "T2001", [answer])
    frag = client.get(f"{bulk_url}/progress").text
    assert 'data-done="yes"' in frag
    assert "hx-get" not in frag  # finished: polling stops
    assert 'data-count="failed"' in frag
    assert f'href="/ui/bulk/{bulk_id}"' in client.get("/ui/bulk").text


def test_ticked_terminals_and_an_incidents_affected_terminals(
    client: TestClient, seeded: Seeded
) -> None:
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine).begin() as s:
        inc = Incident(
            rule_id="host-outage",
            scope="host:acq-west",
            open_key="host-outage|host:acq-west",
            code="NET.HOST_UNREACHABLE",
            severity="critical",
            status="open",
            explanation={"reason": "test"},  # no member list: the whole host
            opened_at=T0,
        )
        s.add(inc)
        s.flush()
        incident_id = inc.id
    engine.dispose()
    csrf = login(client, "ops")
    page = client.get(f"/ui/incidents/{incident_id}").text
    assert f'href="/ui/bulk/new?incident={incident_id}"' in page
    chosen = client.get(f"/ui/bulk/new?incident={incident_id}").text
    assert re.search(r'id="bulk-count">2<', chosen)
    assert "T1003" in chosen
    assert "T2002" in chosen
    r = client.post(
        "/ui/bulk",
        data={"csrf": csrf, "name": "re_sign_on", "incident": str(incident_id), "confirm": "yes"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    sent = _commands(seeded)
    assert [t for t, *_ in sent] == ["T1003", "T2002"]  # unknown capability: sent
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine)() as s:
        (action,) = s.scalars(select(BulkAction)).all()
        assert action.incident_id == incident_id
        assert s.scalars(select(Command.incident_id)).all() == [incident_id, incident_id]
    engine.dispose()

    ticked = client.get("/ui/bulk/new?terminal=T1002&terminal=T2001").text
    assert re.search(r'id="bulk-count">2<', ticked)
    assert re.search(r'data-can="reprint">1 of 2 can run it<', ticked)


def test_refusals(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    csrf = login(client, "ops")
    # a command no selected terminal can run is refused, not queued for nobody
    r = client.post("/ui/bulk", data={"csrf": csrf, "name": "reprint", "terminal": "T1002"})
    assert r.status_code == 409
    r = client.post("/ui/bulk", data={"csrf": csrf, "name": "update_config", "host": "acq-east"})
    assert r.status_code == 422
    r = client.post("/ui/bulk", data={"name": "reboot", "host": "acq-east", "confirm": "yes"})
    assert r.status_code == 403  # no CSRF token
    monkeypatch.setattr(bulk, "MAX_TERMINALS", 2)
    monkeypatch.setattr("posguard.fleet.web.bulk_selection.MAX_TERMINALS", 2)
    r = client.get("/ui/bulk/new?host=acq-east")
    assert r.status_code == 409
    assert "at most 2" in r.text
    client.cookies.clear()
    login(client, "shop1")
    assert client.get("/ui/bulk/new?merchant=M01").status_code == 403
    assert client.get("/ui/bulk").status_code == 403


def test_terminal_page_does_not_offer_what_the_terminal_cannot_run(
    client: TestClient,
) -> None:
    csrf = login(client, "ops")
    page = client.get("/ui/terminals/T1002").text
    assert re.search(r'data-action="reprint" disabled', page)
    assert not re.search(r'data-action="reboot" disabled', page)
    r = client.post(
        "/ui/terminals/T1002/commands", data={"csrf": csrf, "name": "reprint", "confirm": "yes"}
    )
    assert r.status_code == 409


def test_incident_page_does_not_offer_what_its_terminal_cannot_run(
    client: TestClient, seeded: Seeded
) -> None:
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine).begin() as s:
        inc = Incident(
            rule_id="host-read-timeouts",
            scope="terminal:T1002",
            open_key="host-read-timeouts|terminal:T1002",
            code="NET.READ_TIMEOUT",
            severity="major",
            status="open",
            terminal_id="T1002",
            merchant_id="M01",
            explanation={"reason": "test"},
            opened_at=T0,
        )
        s.add(inc)
        s.flush()
        incident_id = inc.id
    engine.dispose()
    login(client, "ops")
    page = client.get(f"/ui/incidents/{incident_id}").text
    assert re.search(r'data-action="reprint" disabled', page)
    assert not re.search(r'data-action="re_sign_on" disabled', page)
    assert 'id="incident-bulk"' not in page  # one terminal: its own command section


def _token(c: TestClient, username: str) -> dict[str, str]:
    r = c.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_the_api_sends_what_the_dashboard_sends(client: TestClient, seeded: Seeded) -> None:
    """``POST /api/v1/bulk-actions``: the same selection, capability check and commands."""
    ops = _token(client, "ops")
    body = {"name": "reprint", "selection": {"filter": {"model": "PX-5"}}}
    r = client.post("/api/v1/bulk-actions", json=body, headers=ops)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["sent"] == 2
    assert out["skipped"] == ["T1002"]
    assert out["counts"] == {"pending": 2}
    assert sorted(c["terminal_id"] for c in out["commands"]) == ["T1001", "T2001"]
    assert _commands(seeded) == [
        ("T1001", "reprint", out["id"]),
        ("T2001", "reprint", out["id"]),
    ]
    got = client.get(f"/api/v1/bulk-actions/{out['id']}", headers=ops)
    assert got.json()["sent"] == 2
    # refusals, each naming what is wrong
    two = {"terminals": ["T1001"], "filter": {"host": "acq-east"}}
    r = client.post("/api/v1/bulk-actions", json={"name": "reboot", "selection": two}, headers=ops)
    assert r.status_code == 422
    bad = {"name": "reboot", "selection": {"filter": {"password": "x"}}}
    assert client.post("/api/v1/bulk-actions", json=bad, headers=ops).status_code == 422
    cfg = {"name": "update_config", "selection": {"terminals": ["T1001"]}}
    assert client.post("/api/v1/bulk-actions", json=cfg, headers=ops).status_code == 422
    nobody = {"name": "reprint", "selection": {"terminals": ["T1002"]}}
    assert client.post("/api/v1/bulk-actions", json=nobody, headers=ops).status_code == 409
    missing = {"name": "reboot", "selection": {"incident": 999}}
    assert client.post("/api/v1/bulk-actions", json=missing, headers=ops).status_code == 404
    shop = _token(client, "shop1")
    assert client.post("/api/v1/bulk-actions", json=body, headers=shop).status_code == 403
    assert client.get(f"/api/v1/bulk-actions/{out['id']}", headers=shop).status_code == 403


def test_a_selection_that_changed_since_the_confirmation_is_not_sent(
    client: TestClient, seeded: Seeded
) -> None:
    csrf = login(client, "ops")
    form = {"csrf": csrf, "name": "reboot", "model": "PX-5", "confirm": "yes", "expect": "2"}
    r = client.post("/ui/bulk", data=form)  # 3 PX-5 terminals now, 2 when confirmed
    assert r.status_code == 200
    assert 'id="bulk-changed"' in r.text
    assert "2 terminals when you confirmed, 3 now" in r.text
    assert _commands(seeded) == []
    sent = client.post("/ui/bulk", data={**form, "expect": "3"}, follow_redirects=False)
    assert sent.status_code == 303
    assert len(_commands(seeded)) == 3


def test_staged_first_share_auto_pause_release_anyway_and_stop(
    client: TestClient, seeded: Seeded
) -> None:
    """A rollback across a model: one terminal first; its failure pauses the action (above
    20 %), the rest goes out only when released anyway; stop expires what is not taken."""
    csrf = login(client, "ops")
    form = {
        "csrf": csrf,
        "name": "rollback",
        "model": "PX-5",
        "first_pct": "30",
        "max_failure_pct": "20",
    }
    confirm = client.post("/ui/bulk", data=form)
    assert "First 1 now; the other 2 when you release them." in confirm.text
    sent = client.post("/ui/bulk", data={**form, "confirm": "yes"}, follow_redirects=False)
    url = sent.headers["location"]
    assert _commands(seeded) == [("T1001", "rollback", int(url.rsplit("/", 1)[1]))]
    page = client.get(url).text
    assert 'data-state="running"' in page
    assert re.search(r'id="bulk-release" disabled', page)  # wait for stage 1's answer

    auth = {"Authorization": f"Bearer {seeded.credentials['T1001']}"}
    (cmd,) = client.get("/api/v1/terminals/T1001/commands/pending", headers=auth).json()
    failed = event(
        "T1001",
        9,
        "command_result",
        T0,
        command_id=cmd["command_id"],
        status="failed",
        detail="rollback refused: the other slot is not known good",
    )
    ingest(client, seeded, "T1001", [failed])
    page = client.get(url).text
    assert 'data-state="paused"' in page
    assert 'id="bulk-paused"' in page
    assert re.search(r'data-stage="1" data-released="yes">.*?<td class="rate">100.0%', page, re.S)
    refused = client.post(f"{url}/release", data={"csrf": csrf})
    assert refused.status_code == 409
    assert "paused" in refused.text
    assert len(_commands(seeded)) == 1
    r = client.post(f"{url}/release", data={"csrf": csrf, "anyway": "yes"}, follow_redirects=False)
    assert r.status_code == 303
    assert [t for t, *_ in _commands(seeded)] == ["T1001", "T1002", "T2001"]
    r = client.post(f"{url}/stop", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    frag = client.get(f"{url}/progress").text
    assert 'data-state="stopped"' in frag
    assert 'data-count="expired"' in frag
    assert 'data-done="yes"' in frag
    assert client.post(f"{url}/release", data={"csrf": csrf}).status_code == 409


def test_the_api_stages_pauses_and_releases(client: TestClient, seeded: Seeded) -> None:
    ops = _token(client, "ops")
    body = {
        "name": "re_sign_on",
        "selection": {"filter": {"model": "PX-5"}},
        "first_pct": 30,
        "max_failure": 0.2,
    }
    out = client.post("/api/v1/bulk-actions", json=body, headers=ops).json()
    assert out["state"] == "running"
    assert [(s["size"], s["released"]) for s in out["stages"]] == [(1, True), (2, False)]
    assert out["sent"] == 1
    auth = {"Authorization": f"Bearer {seeded.credentials['T1001']}"}
    (cmd,) = client.get("/api/v1/terminals/T1001/commands/pending", headers=auth).json()
    ingest(
        client,
        seeded,
        "T1001",
        [event("T1001", 9, "command_result", T0, command_id=cmd["command_id"], status="failed")],
    )
    now = client.get(f"/api/v1/bulk-actions/{out['id']}", headers=ops).json()
    assert now["state"] == "paused"
    assert now["stages"][0]["failure_rate"] == 1.0
    url = f"/api/v1/bulk-actions/{out['id']}"
    assert client.post(f"{url}/release", headers=ops).status_code == 409
    done = client.post(f"{url}/release?anyway=true", headers=ops).json()
    assert done["state"] == "done"
    assert done["sent"] == 3
    stopped = client.post(f"{url}/stop", headers=ops).json()
    assert stopped["state"] == "stopped"
    assert stopped["counts"] == {"failed": 1, "expired": 2}
