"""The incident workflow and the notifications page in a real browser (Debian's Chromium
through Playwright) against a real uvicorn server: an operator assigns a paper-out incident to
a team, writes a note, resolves it with a reason (the page warns that the printer still
reports paper out and asks to confirm), reopens it, and reads every step in the audit trail;
the merchant sees the merchant-safe part only. On the notifications page an administrator sees
the channels (secrets by where they are, never their values), test-sends through a webhook
received on 127.0.0.1 and through a channel whose secret is missing, and pages and filters
the delivery log. Saves screenshots with POSGUARD_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.notify import outbox
from posguard.fleet.notify.settings import get_notify_settings

from .conftest import LiveServer, Seeded, event, fault
from .test_browser import _login, _post, _shot, browser  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.browser

HOOK_SECRET = "whsec-browser-0123456789abcdef"


class Hook:
    """A webhook receiver on 127.0.0.1: records each body, answers 200."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.stop()


@pytest.fixture
def notify_server(
    seeded: Seeded, hook: Hook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LiveServer, Seeded]]:
    """The fleet with notifications: the ops webhook (secret from the environment) and a
    robot whose secret is not set."""
    config = tmp_path / "notify.yaml"
    config.write_text(
        f"""
public_url: http://127.0.0.1
channels:
  - id: ops-hook
    type: webhook
    url: {hook.url}
    secret: {{env: PG_BROWSER_HOOK_SECRET}}
  - id: shop-robot
    type: wecom
    url: http://127.0.0.1:9/robot
    key: {{env: PG_BROWSER_UNSET_KEY}}
routes:
  - id: all
    notify: [{{channel: ops-hook}}]
    send_on: [open, assign, reopen, resolve]
    hold_s: 0
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("PG_BROWSER_HOOK_SECRET", HOOK_SECRET)
    monkeypatch.delenv("PG_BROWSER_UNSET_KEY", raising=False)
    monkeypatch.setenv("POSGUARD_NOTIFY_CONFIG", str(config))
    monkeypatch.setenv("POSGUARD_NOTIFY_POLL_S", "0.1")
    get_notify_settings.cache_clear()
    try:
        with LiveServer(seeded.settings) as srv:
            yield srv, seeded
    finally:
        get_notify_settings.cache_clear()


def _paper_out(srv: LiveServer, seeded: Seeded) -> None:
    now = datetime.now(UTC) - timedelta(seconds=30)
    _post(
        srv,
        seeded,
        "T1002",
        [
            event("T1002", 1, "printer", now, state="paper_out", previous="ok", pending_jobs=1),
            fault("T1002", 2, "PRN.PAPER_OUT", now, state="paper_out", pending_jobs=1),
        ],
    )


def _open_paper_incident(page: Any, url: str) -> str:
    link = page.locator("#incident-list a", has_text="PRN.PAPER_OUT").first
    for _ in range(50):  # the server's diagnosis loop opens it
        page.goto(f"{url}/ui/incidents")
        if link.count():
            break
        page.wait_for_timeout(200)
    link.click()
    page.wait_for_url(re.compile(r".*/ui/incidents/\d+$"))
    return str(page.url)


def test_assign_note_resolve_with_reason_and_reopen(
    browser: Any,  # noqa: F811
    notify_server: tuple[LiveServer, Seeded],
    hook: Hook,
) -> None:
    from playwright.sync_api import expect

    srv, seeded = notify_server
    _paper_out(srv, seeded)
    ctx = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    _login(page, srv.url, "ops")
    incident_url = _open_paper_incident(page, srv.url)
    expect(page.locator("#incident-status")).to_have_text("Open")
    expect(page.locator("#assignee")).to_have_text("Unassigned")
    expect(page.locator("#sla-ack")).to_have_attribute("data-state", "running")

    page.select_option("#assignee-select", "team:field-service")
    page.click("#assign")
    expect(page.locator("#assignee")).to_have_text("Field service")
    page.fill("#note-text", "Shop says the roll is in the back room")
    page.click("#add-note")
    expect(page.locator("#audit tr[data-action=note]")).to_contain_text("roll is in the back room")

    # resolve with a reason while the printer still reports paper out: a warning, then confirm
    page.select_option("#reason-select", "fixed_on_site")
    page.fill("#resolve-text", "new roll fitted")
    page.click("#resolve")
    expect(page.locator("#cause")).to_contain_text("paper_out")
    page.click("#confirm-resolve")
    page.wait_for_url(incident_url)
    expect(page.locator("#incident-status")).to_have_text("Resolved")
    expect(page.locator("#resolution")).to_contain_text("Fixed on site — new roll fitted")
    resolved = page.locator("#audit tr[data-action=resolved]")
    expect(resolved).to_contain_text("resolved while the cause still showed")
    expect(resolved).to_contain_text("user:ops")
    expect(page.locator("#sla-ack")).to_have_attribute("data-state", "met")

    page.fill("#reopen-reason", "paper out again an hour later")
    page.click("#reopen")
    expect(page.locator("#incident-status")).to_have_text("Open")
    expect(page.locator("#reopened")).to_contain_text("Reopened 1 time")
    actions = page.locator("#audit tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.action)"
    )
    people = [a for a in actions if a != "notification_sent"]  # the delivery loop's, between
    assert people == ["assigned", "note", "resolved", "reopened"]
    expect(page.locator("#audit tr[data-action=reopened]")).to_contain_text("an hour later")
    expect(page.locator("#audit tr[data-action=reopened]")).to_contain_text("127.0.0.1")
    # the delivery loop told the webhook, and the trail says so
    for _ in range(50):
        kinds = [b["transition"].split(":")[0] for b in hook.bodies]
        if {"open", "assign", "resolve", "reopen"} <= set(kinds):
            break
        page.wait_for_timeout(200)
    assert {"open", "assign", "resolve", "reopen"} <= set(kinds), kinds
    page.goto(incident_url)
    expect(page.locator("#audit tr[data-action=notification_sent]").first).to_contain_text(
        "ops-hook"
    )
    _shot(page, "incident-workflow")
    ctx.close()

    # the merchant: what happened and when, not who, not the notes, no workflow forms
    mctx = browser.new_context(locale="zh-CN")
    mpage = mctx.new_page()
    mpage.set_default_timeout(10_000)
    _login(mpage, srv.url, "shop1")
    mpage.goto(incident_url)
    expect(mpage.locator("#audit tr[data-action=resolved]")).to_contain_text("现场修复")
    expect(mpage.locator("#audit tr[data-action=reopened]")).to_have_count(1)
    expect(mpage.locator("#audit tr[data-action=note]")).to_have_count(0)
    expect(mpage.locator("#audit tr[data-action=assigned]")).to_have_count(0)
    expect(mpage.locator("body")).not_to_contain_text("back room")
    expect(mpage.locator("body")).not_to_contain_text("user:ops")
    expect(mpage.locator("#assign-form")).to_have_count(0)
    expect(mpage.locator("#nav-notifications")).to_have_count(0)
    resp = mpage.goto(f"{srv.url}/ui/admin/notifications")
    assert resp is not None
    assert resp.status == 403
    mctx.close()


def test_notifications_page_test_send_and_delivery_log(
    browser: Any,  # noqa: F811
    notify_server: tuple[LiveServer, Seeded],
    hook: Hook,
) -> None:
    from playwright.sync_api import expect

    srv, seeded = notify_server
    # sixty older deliveries, so the log has a second page
    engine = make_engine(seeded.url)
    now = datetime.now(UTC) - timedelta(hours=1)
    with make_sessionmaker(engine).begin() as s:
        rows = []
        for i in range(60):
            row = outbox.new_row(
                incident_id=None, transition=f"test:old{i:03d}", route_id="(test)",
                channel="ops-hook", recipient="", lang="en", audience="ops", now=now,
                not_before=now,
            )  # fmt: skip
            row.update(status="sent", attempts=1, sent_at=now, message_key=f"k{i}")
            rows.append(row)
        outbox.enqueue(s, rows)
    engine.dispose()

    ctx = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    _login(page, srv.url, "admin")
    page.click("#nav-notifications")
    expect(page.locator("h1")).to_have_text("Notification channels and delivery log")
    hook_row = page.locator("#channels tr[data-channel=ops-hook]")
    expect(hook_row).to_contain_text("env:PG_BROWSER_HOOK_SECRET (readable)")
    robot_row = page.locator("#channels tr[data-channel=shop-robot]")
    expect(robot_row).to_contain_text("env:PG_BROWSER_UNSET_KEY (MISSING)")
    expect(page.locator("body")).not_to_contain_text(HOOK_SECRET)
    expect(page.locator("#delivery-log tbody tr")).to_have_count(50)

    page.select_option("#channels tr[data-channel=ops-hook] select[name=lang]", "zh")
    page.click("#test-ops-hook")
    expect(page.locator("#test-result")).to_contain_text("Test message sent: ops-hook")
    (body,) = hook.bodies
    assert body["transition"] == "test"
    assert "通知渠道 ops-hook 工作正常" in body["title"]
    first = page.locator("#delivery-log tbody tr").first
    expect(first).to_have_attribute("data-state", "sent")
    expect(first).to_have_attribute("data-channel", "ops-hook")

    page.click("#test-shop-robot")
    expect(page.locator("#test-result")).to_contain_text("Test message failed: shop-robot")
    expect(page.locator("#test-result")).to_contain_text("PG_BROWSER_UNSET_KEY")
    failed = page.locator("#delivery-log tbody tr").first
    expect(failed).to_have_attribute("data-state", "failed")
    _shot(page, "notifications")

    page.select_option("#state-filter", "failed")
    page.click("#filter-log")
    expect(page.locator("#delivery-log tbody tr")).to_have_count(1)
    page.select_option("#state-filter", "")
    page.click("#filter-log")
    page.click("#older")
    expect(page.locator("#delivery-log tbody tr")).to_have_count(12)  # 62 rows, 50 a page
    expect(page.locator("#newer")).to_be_visible()
    page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("通知渠道与发送记录")
    expect(page.locator("#delivery-log tbody tr").first).to_contain_text("已发送")
    ctx.close()
