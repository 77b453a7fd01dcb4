"""The training page (/ui/training, issue 20) over HTTP: the operator whose quick voids are far
above the fleet's is listed with the topic in the user's language, a recorded session shows its
before and after; a merchant sees its own shop only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from posguard.fleet.api.app import create_app

from .conftest import PASSWORD, Seeded, event, fault
from .test_pages import ingest, login


def test_training_page(seeded: Seeded) -> None:
    now = datetime.now(UTC)
    with TestClient(create_app(seeded.settings), base_url="http://127.0.0.1") as c:
        for tid, txns, voids in (("T1001", 200, 12), ("T2001", 600, 1)):
            evs = [
                event(tid, i + 1, "transaction", now - timedelta(hours=i + 1), operator="03")
                for i in range(txns)
            ]
            evs += [
                fault(tid, 1000 + i, "OPS.QUICK_VOID", now - timedelta(hours=i + 1), operator="03")
                for i in range(voids)
            ]
            ingest(c, seeded, tid, evs)
        token = c.post("/api/v1/auth/token", data={"username": "ops", "password": PASSWORD}).json()[
            "access_token"
        ]
        r = c.post(
            "/api/v1/training/sessions",
            json={"merchant_id": "M01", "operator": "03", "topics": ["OPS.QUICK_VOID"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        csrf = login(c, "ops")
        c.post("/ui/lang", data={"csrf": csrf, "lang": "en"})
        page = c.get("/ui/training")
        assert page.status_code == 200
        assert 'class="flagged" data-merchant="M01" data-operator="03"' in page.text
        assert "A sale voided right after it was made" in page.text  # the catalog's title
        assert 'data-merchant="M02" data-operator="03"' in page.text
        assert 'class="flagged" data-merchant="M02"' not in page.text
        assert "OPS.QUICK_VOID" in page.text.split('id="training-sessions"')[1]
        c.post("/ui/logout", data={"csrf": csrf})
        login(c, "shop2")
        mine = c.get("/ui/training").text
        assert 'data-merchant="M02"' in mine
        assert 'data-merchant="M01"' not in mine
