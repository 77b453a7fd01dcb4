"""The Reports page in a real browser (Debian's Chromium through Playwright) on a phone, in
Chinese: a date range typed into the form, the four inline-SVG charts and the business table
with the acquirer hosts' approval rates, and no sideways scrolling at 390 px."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .browser_helpers import browser, logged_in, post, shot
from .conftest import LiveServer, Seeded, event

__all__ = ["browser"]

pytestmark = pytest.mark.browser


def _sales(srv: LiveServer, seeded: Seeded, at: datetime) -> None:
    for tid, outcomes in (("T1001", ("approved", "declined")), ("T1003", ("approved",))):
        post(
            srv,
            seeded,
            tid,
            [
                event(
                    tid,
                    i + 1,
                    "transaction",
                    at,
                    type="sale",
                    outcome=o,
                    masked_pan="621234******1232",
                    failover=False,
                )
                for i, o in enumerate(outcomes)
            ],
        )


def test_reports_with_a_range_at_phone_width_in_chinese(
    browser: Any,
    live_server: tuple[LiveServer, Seeded],
) -> None:
    from playwright.sync_api import expect

    srv, seeded = live_server
    now = datetime.now(UTC)
    _sales(srv, seeded, now - timedelta(hours=1))
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    with logged_in(browser, srv.url, "ops", locale="zh-CN", **phone) as page:
        page.goto(f"{srv.url}/ui/reports")
        page.fill("input[name=from]", (now.date() - timedelta(days=6)).isoformat())
        page.fill("input[name=to]", now.date().isoformat())
        page.click("#report-range button[type=submit]")
        expect(page.locator("#report-window")).to_contain_text("（7 天")
        expect(page.locator("h1")).to_have_text("报表")
        for chart in ("#chart-approval", "#chart-issuer", "#chart-mttr", "#chart-trends"):
            expect(page.locator(f"{chart} svg[role=img]")).to_have_count(1)
        expect(page.locator("#chart-approval svg")).to_have_attribute(
            "aria-label", "各收单主机批准率"
        )
        hosts = page.locator("#table-host tbody tr")
        expect(hosts).to_have_count(2)
        expect(hosts.nth(0)).to_contain_text("acq-east")
        expect(hosts.nth(0)).to_contain_text("50.0%")
        expect(hosts.nth(1)).to_contain_text("100.0%")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at 390 px ({width} px)"
        shot(page, "reports-phone")
