"""The dashboard's writes commit before the answer leaves (the redirect after an acknowledge
is followed by a read that must see it), and the merchant filter is a searchable list."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event

from posguard.fleet.api.app import create_app
from posguard.fleet.context import FleetContext
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import Incident

from .conftest import Seeded
from .test_pages import login


def _incident(seeded: Seeded) -> int:
    engine = make_engine(seeded.url)
    try:
        with make_sessionmaker(engine).begin() as s:
            inc = Incident(
                rule_id="r1",
                scope="terminal:T1001",
                open_key="r1|terminal:T1001",
                code="PRN.PAPER_OUT",
                severity="minor",
                status="open",
                terminal_id="T1001",
                merchant_id="M01",
                explanation={"reason": "test"},
                opened_at=datetime.now(UTC),
            )
            s.add(inc)
            s.flush()
            return inc.id
    finally:
        engine.dispose()


def test_dashboard_writes_commit_before_the_answer(seeded: Seeded) -> None:
    ctx = FleetContext.build(seeded.settings.model_copy(update={"diagnosis_in_process": False}))
    order: list[str] = []
    lock = threading.Lock()
    sa_event.listen(ctx.engine, "commit", lambda _c: order.append("commit"))
    app = create_app(context=ctx)

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                with lock:
                    order.append("response")
            await send(message)

        await app(scope, receive, sending)

    inc = _incident(seeded)
    with TestClient(recording, base_url="http://127.0.0.1") as client:
        csrf = login(client, "ops")
        for action, status in (("ack", "acknowledged"), ("resolve", "resolved")):
            order.clear()
            r = client.post(
                f"/ui/incidents/{inc}/{action}",
                data={"csrf": csrf, "reason": "fixed_on_site", "force": "yes"},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
            assert order.index("commit") < order.index("response"), order
            with ctx.sessions() as s:  # read right after the answer: the write is there
                row = s.get(Incident, inc)
                assert row is not None
                assert row.status == status
        order.clear()
        sent = client.post(
            "/ui/terminals/T1002/commands",
            data={"csrf": csrf, "name": "reboot", "confirm": "yes"},
            follow_redirects=False,
        )
        assert sent.status_code == 303
        assert order.index("commit") < order.index("response"), order
        listed = client.get("/ui/terminals/T1002/commands").text
        assert 'data-command="reboot" data-status="pending"' in listed
    ctx.close()


def test_the_merchant_filter_is_a_searchable_list_with_names(seeded: Seeded) -> None:
    with TestClient(create_app(seeded.settings), base_url="http://127.0.0.1") as client:
        login(client, "ops")
        for path in ("/ui/", "/ui/incidents"):
            page = client.get(path).text
            assert '<input type="search" name="merchant" list="merchant-options"' in page
            assert '<option value="M01">M01 便利店</option>' in page
            assert '<select name="merchant"' not in page
        picked = client.get("/ui/incidents?merchant=M02&status=all").text
        assert 'name="merchant" list="merchant-options" value="M02"' in picked


def test_dashboard_and_api_transitions_go_through_one_service(seeded: Seeded) -> None:
    """Issue 21: the dashboard's acknowledge/resolve used to skip the incident metric; both
    faces now count through ``fleet.incident_actions``, and a second resolve is refused."""
    from prometheus_client import REGISTRY

    def counted(action: str) -> float:
        value = REGISTRY.get_sample_value("posguard_fleet_incidents_total", {"transition": action})
        return value or 0.0

    inc = _incident(seeded)
    before = {a: counted(a) for a in ("acknowledged", "resolved")}
    with TestClient(create_app(seeded.settings), base_url="http://127.0.0.1") as client:
        csrf = login(client, "ops")
        form = {"csrf": csrf, "reason": "fixed_on_site", "force": "yes"}
        for action in ("ack", "resolve"):
            r = client.post(f"/ui/incidents/{inc}/{action}", data=form, follow_redirects=False)
            assert r.status_code == 303, r.text
        again = client.post(f"/ui/incidents/{inc}/resolve", data=form, follow_redirects=False)
        assert again.status_code == 409
    assert counted("acknowledged") == before["acknowledged"] + 1
    assert counted("resolved") == before["resolved"] + 1
