"""The dashboard in a real browser (Debian's Chromium through Playwright) against a real uvicorn
server on an ephemeral port: faults posted to the ingest API open an incident through the
rules, an operator walks its steps, sends a re-sign-on and sees the terminal's answer, switches
language; a merchant cannot reach another merchant's terminal. Saves the README screenshots
(with POSGUARD_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from .browser_helpers import (
    DESKTOP,
    answer_command,
    browser,
    logged_in,
    open_incident,
    post,
    shot,
    working_day_with_faults,
)
from .browser_helpers import login as _login  # noqa: F401 (other browser modules import it)
from .browser_helpers import post as _post  # noqa: F401 (as above)
from .browser_helpers import shot as _shot  # noqa: F401 (as above)
from .conftest import LiveServer, Seeded, fault

__all__ = ["browser"]  # the module's Chromium fixture, also imported from here by others

pytestmark = pytest.mark.browser


def test_operator_walks_an_incident_and_resigns_on(
    browser: Any, live_server: tuple[LiveServer, Seeded]
) -> None:
    from playwright.sync_api import expect

    srv, seeded = live_server
    with logged_in(browser, srv.url, "ops", viewport=DESKTOP) as page:
        expect(page.locator("nav")).to_contain_text("Overview")

        working_day_with_faults(srv, seeded)
        open_incident(page, srv.url, "NET.READ_TIMEOUT")
        expect(page.locator("h1")).to_contain_text("Incident")
        expect(page.locator("#incident-status")).to_have_text("Open")
        expect(page.locator("#incident-reason")).not_to_be_empty()
        expect(page.locator("#affected")).to_contain_text("T1001")
        expect(page.locator("#timeline tbody tr")).to_have_count(3)
        steps = page.locator("#steps li")
        assert steps.count() >= 2
        incident_url = page.url

        page.click("#ack")
        expect(page.locator("#incident-status")).to_have_text("Acknowledged")

        # walk the catalog's steps in the wizard: not solved, then hand over to a person
        page.click("#walk")
        expect(page.locator("#walk h2")).to_contain_text("NET.READ_TIMEOUT")
        first = page.locator("#step-text").inner_text()
        assert first
        page.click("button[data-answer=not_solved]")
        if page.locator("#step-text").count():
            assert page.locator("#step-text").inner_text() != first
            shot(page, "troubleshooting")
            page.click("button[data-answer=escalate]")
        expect(page.locator("#walk-done")).to_be_visible()
        expect(page.locator("#escalation")).to_contain_text("NET.READ_TIMEOUT")

        # re-sign-on from the incident, with its confirmation step
        page.goto(incident_url)
        page.click("button[data-action=re_sign_on]")
        expect(page.locator("#confirm-command")).to_contain_text("re_sign_on")
        page.click("#confirm-send")
        page.wait_for_url(re.compile(r".*sent=re_sign_on"))
        row = page.locator("#commands tr.cmd[data-command=re_sign_on]")
        expect(row).to_have_attribute("data-status", "pending")

        # the terminal picks the command up and answers with a command_result event
        answer_command(srv, seeded, "T1001", "re_sign_on", 100, "signed on, new working keys")
        # no reload: the htmx-polled fragment shows the answer
        expect(row).to_have_attribute("data-status", "succeeded", timeout=10_000)
        expect(row.locator(".result")).to_contain_text("signed on, new working keys")
        shot(page, "incident")

        page.goto(f"{srv.url}/ui/terminals/T1001")
        expect(page.locator("#identity")).to_contain_text("PX-5")
        expect(page.locator("#rates")).to_contain_text("approved")
        expect(page.locator("#reversals")).to_contain_text("000123")
        expect(page.locator("#printer")).to_contain_text("ok")
        shot(page, "terminal")

        page.goto(f"{srv.url}/ui/")
        expect(page.locator("[data-health=printer_fault] b")).to_have_text("1")
        expect(page.locator("[data-health=degraded] b")).to_have_text("1")
        shot(page, "overview")

        page.goto(f"{srv.url}/ui/reports")
        expect(page.locator("#report-brands")).to_contain_text("Acme")
        shot(page, "reports")

        # switch language: remembered for the user, across a new login
        page.click("#lang-switch")
        expect(page.locator("nav")).to_contain_text("总览")
        expect(page.locator("#report-brands h2")).to_contain_text("按品牌")
        page.goto(f"{srv.url}/ui/")
        expect(page.locator("[data-health=printer_fault] span")).to_have_text("打印机故障")
        shot(page, "overview-zh")
    with logged_in(browser, srv.url, "ops") as page2:
        expect(page2.locator("nav")).to_contain_text("故障工单")


def test_merchant_cannot_reach_another_merchants_terminal(
    browser: Any, live_server: tuple[LiveServer, Seeded]
) -> None:
    from playwright.sync_api import expect

    srv, _ = live_server
    with logged_in(browser, srv.url, "shop1", locale="zh-CN") as page:
        resp = page.goto(f"{srv.url}/ui/terminals/T1001")
        assert resp is not None
        assert resp.status == 200
        expect(page.locator("#identity")).to_contain_text("M01")
        resp = page.goto(f"{srv.url}/ui/terminals/T2001")
        assert resp is not None
        assert resp.status == 404
        expect(page.locator("body")).not_to_contain_text("haidian")
        expect(page.locator(".error")).to_contain_text("没有找到")
        # the merchant's overview counts only its three terminals, and offers no merchant filter
        page.goto(f"{srv.url}/ui/")
        expect(page.locator(".tile.total b")).to_have_text("3")
        expect(page.locator("select[name=merchant]")).to_have_count(0)


def test_merchant_sees_the_fleet_incident_its_terminal_is_in(
    browser: Any, live_server: tuple[LiveServer, Seeded]
) -> None:
    """Issue #15: acq-west (T1003 of M01, T2002 of M02) is unreachable from both terminals
    that use it: one host incident; merchant M01 opens it from its incident list and sees its
    own terminal, what to do, and nothing of M02."""
    from playwright.sync_api import expect

    srv, seeded = live_server
    now = datetime.now(UTC)
    for tid in ("T1003", "T2002"):
        post(srv, seeded, tid, [fault(tid, 100 + k, "NET.CONNECT_TIMEOUT", now) for k in range(2)])
    with logged_in(browser, srv.url, "shop1") as page:
        open_incident(page, srv.url, "NET.HOST_UNREACHABLE", query="?status=all")
        expect(page.locator(".lead")).to_contain_text("NET.HOST_UNREACHABLE")
        expect(page.locator("#affected")).to_contain_text("T1003")
        expect(page.locator("#steps li").first).to_be_visible()
        expect(page.locator("body")).not_to_contain_text("T2002")
        expect(page.locator("body")).not_to_contain_text("M02")
        shot(page, "merchant-fleet-incident")
