"""Recording a training session on the dashboard (/ui/training, issue 20): staff fill in the
form (merchant, operator, topics, trainer, date); a form with mistakes comes back with each one
named next to its field in the reader's language, the values kept, nothing recorded; a merchant
gets no form and cannot post one; and the whole path in Chromium: record, then see the session
listed with its before/after."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from posguard.fleet.api.app import create_app
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import TrainingSession

from .conftest import PASSWORD, LiveServer, Seeded
from .test_browser import browser  # noqa: F401 - the module's Chromium fixture
from .test_pages import login


def _sessions(seeded: Seeded) -> int:
    engine = make_engine(seeded.url)
    try:
        with make_sessionmaker(engine)() as s:
            return s.scalar(select(func.count()).select_from(TrainingSession)) or 0
    finally:
        engine.dispose()


def test_form_refuses_with_clear_messages_and_records(seeded: Seeded, tmp_path: Path) -> None:
    with TestClient(create_app(seeded.settings), base_url="http://127.0.0.1") as c:
        csrf = login(c, "ops")
        page = c.get("/ui/training")
        assert 'id="training-form"' in page.text
        assert 'value="OPS.QUICK_VOID"' in page.text  # the catalog's operator errors to tick
        tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
        bad = c.post(
            "/ui/training/sessions",
            data={
                "csrf": csrf,
                "merchant_id": "M99",
                "operator": "03",
                "trainer": "",
                "held_on": tomorrow,
            },
        )
        assert bad.status_code == 422
        text = bad.text
        assert "没有商户 M99" in text  # zh by default
        assert "至少选择一个培训主题" in text
        assert "请填写培训人" in text
        assert "培训日期不能晚于今天" in text
        assert 'value="03"' in text  # what was typed is kept
        assert _sessions(seeded) == 0
        c.post("/ui/lang", data={"csrf": csrf, "lang": "en"})
        bad = c.post(
            "/ui/training/sessions",
            data={
                "csrf": csrf,
                "merchant_id": "M01",
                "topics": ["OPS.QUICK_VOID", "PRN.PAPER_OUT"],
                "trainer": "Wang",
                "held_on": "1st of May",
            },
        )
        assert bad.status_code == 422
        assert "Not an operator-error code: PRN.PAPER_OUT" in bad.text
        assert "The date must be a day as YYYY-MM-DD" in bad.text
        assert _sessions(seeded) == 0
        day = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
        ok = c.post(
            "/ui/training/sessions",
            data={
                "csrf": csrf,
                "merchant_id": "M01",
                "operator": "03",
                "topics": ["OPS.QUICK_VOID"],
                "trainer": "Wang Fang",
                "held_on": day,
            },
            follow_redirects=False,
        )
        assert ok.status_code == 303, ok.text
        listed = c.get(ok.headers["location"]).text
        assert "Training recorded" in listed
        sessions = listed.split('id="training-sessions"')[1]
        assert "Wang Fang" in sessions
        assert "OPS.QUICK_VOID" in sessions
        assert _sessions(seeded) == 1
        c.post("/ui/logout", data={"csrf": csrf})
        csrf = login(c, "shop2")
        assert 'id="training-form"' not in c.get("/ui/training").text
        refused = c.post(
            "/ui/training/sessions",
            data={
                "csrf": csrf,
                "merchant_id": "M02",
                "topics": ["OPS.QUICK_VOID"],
                "trainer": "me",
                "held_on": day,
            },
        )
        assert refused.status_code == 403
        assert _sessions(seeded) == 1


@pytest.mark.browser
def test_record_a_session_in_browser(
    browser: Any,  # noqa: F811 - the imported fixture
    seeded: Seeded,
) -> None:
    with LiveServer(seeded.settings) as srv:
        page = browser.new_page()
        page.goto(f"{srv.url}/ui/")
        page.fill("input[name=username]", "ops")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/ui/$"))
        page.goto(f"{srv.url}/ui/training")
        page.click("#tf-submit")  # empty: refused, the problems shown
        assert page.locator("span.error[data-field=merchant_id]").is_visible()
        assert page.locator("span.error[data-field=topics]").is_visible()
        page.select_option("#tf-merchant", "M01")
        page.fill("#tf-operator", "07")
        page.check("input[name=topics][value='OPS.QUICK_VOID']")
        page.fill("#tf-trainer", "Li Lei")
        page.fill("#tf-date", (datetime.now(UTC) - timedelta(days=1)).date().isoformat())
        page.click("#tf-submit")
        page.wait_for_url(re.compile(r".*/ui/training\?done=recorded"))
        assert page.locator("#training-recorded").is_visible()
        row = page.locator("#training-sessions tbody tr").filter(has_text="Li Lei")
        assert row.count() == 1
        assert "OPS.QUICK_VOID" in row.inner_text()
        assert "07" in row.inner_text()
        page.close()
