"""The visit-before-it-fails page in a real browser (Chromium through Playwright) against a real
uvicorn server: four weeks of heartbeats with wear counters posted to the ingest API, one
printer wearing out; the operator finds it on the list with its reasons, opens the terminal,
records the visit (wear confirmed, part replaced) and the list empties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from .conftest import LiveServer, Seeded, event
from .test_browser import _login, _post, _shot, browser  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.browser


def printer_history(tid: str, *, wearing: bool, seed: int) -> list[dict[str, object]]:
    """A heartbeat every 6 hours for 28 days: ~3,000 lines a day; a wearing printer's overheats
    and cutter jams climb over its last 7 days."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    start = now - timedelta(days=28)
    totals = {
        "printer_lines": 0,
        "printer_cuts": 0,
        "printer_paper_out": 0,
        "printer_overheat": 0,
        "printer_cutter_jam": 0,
        "boots": 1,
        "watchdog_restarts": 0,
    }
    out = []
    for i in range(28 * 4):
        ts = start + timedelta(hours=6 * i)
        if ts >= now:
            break
        day = i // 4
        wear = max(0, day - 20) / 7 if wearing else 0.0
        lines = 750
        totals["printer_lines"] += lines
        totals["printer_cuts"] += 40
        totals["printer_overheat"] += int(rng.poisson((0.03 + 2.0 * wear**2) * lines / 1000))
        totals["printer_cutter_jam"] += int(rng.poisson((0.02 + 1.0 * wear**2) * lines / 1000))
        out.append(event(tid, i + 1, "heartbeat", ts, interval_s=60, wear=dict(totals)))
    return out


def test_operator_sends_a_technician_before_the_printer_fails(
    browser: Any,  # noqa: F811
    live_server: tuple[LiveServer, Seeded],
) -> None:
    from playwright.sync_api import expect

    srv, seeded = live_server
    _post(srv, seeded, "T1001", printer_history("T1001", wearing=True, seed=1))
    _post(srv, seeded, "T1002", printer_history("T1002", wearing=False, seed=2))
    _post(srv, seeded, "T2001", printer_history("T2001", wearing=False, seed=3))

    ctx = browser.new_context(locale="en-US")
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    _login(page, srv.url, "ops")
    page.click("nav >> text=Maintenance")
    page.wait_for_url(f"{srv.url}/ui/maintenance")
    section = page.locator("section[data-area=pudong]")
    expect(section.locator("#visit-T1001")).to_contain_text("printer")
    expect(section.locator("#visit-T1001")).to_contain_text("Theil–Sen")
    expect(section.locator("#visit-T1001")).to_contain_text("overheats and cutter jams")
    expect(page.locator("#visit-T1002")).to_have_count(0)
    expect(page.locator("#visit-T2001")).to_have_count(0)
    _shot(page, "maintenance-visit-list")

    page.click("#visit-T1001 a")
    page.wait_for_url(f"{srv.url}/ui/terminals/T1001")
    card = page.locator("#prediction")  # loaded by htmx after the page
    expect(card.locator("#prediction-due")).to_have_text("visit due")
    expect(card.locator("#prediction-evidence")).to_contain_text("printer")
    # the part's own symptom backs the overheats: the card says so (score.py, unconfirmed)
    expect(card.locator("#prediction-evidence")).to_contain_text(
        "cutter jams per 1,000 lines up too"
    )
    page.check("#visit-form input[value=confirmed]")
    page.check("#visit-form input[name=part_replaced]")
    page.fill("#visit-form input[name=note]", "thermal head worn, replaced")
    page.click("#visit-record")
    page.wait_for_url(f"{srv.url}/ui/terminals/T1001#prediction")
    expect(page.locator("#visit-history")).to_contain_text("wear confirmed")
    expect(page.locator("#visit-history")).to_contain_text("part replaced")
    expect(page.locator("#prediction-due")).to_have_count(0)

    page.goto(f"{srv.url}/ui/maintenance")
    expect(page.locator("#no-visits")).to_be_visible()
    expect(page.locator("#visit-stats")).to_contain_text("1 visits recorded, 1 confirmed")

    # the merchant of T1001 sees the card but cannot record a visit
    shop = browser.new_context(locale="zh-CN").new_page()
    _login(shop, srv.url, "shop1")
    shop.goto(f"{srv.url}/ui/terminals/T1001")
    expect(shop.locator("#prediction h2")).to_have_text("故障预测")
    expect(shop.locator("#visit-form")).to_have_count(0)
    ctx.close()
