"""The console pages in a real browser (Debian's Chromium through Playwright, real uvicorn):
the inventory reached from an overview tile, searched, sorted and paged; a bulk command to
ticked terminals with one confirmation, each answer appearing without a reload; a host
incident's command section; and the same pages at phone width (390 px)."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import TerminalLiveness
from posguard.fleet.repo.terminals import add_terminal

from .browser_helpers import (
    DESKTOP,
    answer_command,
    browser,  # noqa: F401 (the module's Chromium fixture)
    confirm_bulk,
    logged_in,
    open_incident,
    post,
    send_bulk,
    shot,
    tick,
    working_day_with_faults,
)
from .conftest import T0, LiveServer, Seeded, event, fault

pytestmark = pytest.mark.browser

ALL = ["doctor", "re_sign_on", "reboot", "reprint", "rollback", "settle"]


def _heartbeats(srv: LiveServer, seeded: Seeded, commands: dict[str, list[str]]) -> None:
    """Each terminal's heartbeat with its command list, then wait (bounded) until the server's
    diagnosis loop has recorded them as the terminals' liveness."""
    now = datetime.now(UTC)
    for tid, names in commands.items():
        post(srv, seeded, tid, [event(tid, 500, "heartbeat", now, interval_s=60, commands=names)])
    engine = make_engine(seeded.url)
    try:
        for _ in range(100):
            with make_sessionmaker(engine)() as s:
                have = set(s.scalars(select(TerminalLiveness.terminal_id)))
            if have >= set(commands):
                return
            time.sleep(0.1)
    finally:
        engine.dispose()
    raise AssertionError("heartbeats not recorded as liveness")


def _more_terminals(seeded: Seeded, n: int) -> None:
    engine = make_engine(seeded.url)
    with make_sessionmaker(engine).begin() as s:
        for i in range(n):
            add_terminal(
                s,
                terminal_id=f"T3{i:03d}",
                merchant_id="M03",
                merchant_name="东方超市",
                model="N2",
                brand="Nova",
                firmware="2.2.0",
                acquirer_host="acq-north",
                area="minhang",
                now=T0,
                serial=f"SN-{i:05d}",
                install_date=date(2025, 3, 1),
            )
    engine.dispose()


def test_inventory_from_a_tile_search_sort_and_pages(
    browser: Any,  # noqa: F811
    live_server: tuple[LiveServer, Seeded],
) -> None:
    from playwright.sync_api import expect

    srv, seeded = live_server
    _more_terminals(seeded, 30)
    working_day_with_faults(srv, seeded)  # paper out on T1002: printer fault
    with logged_in(browser, srv.url, "ops", viewport=DESKTOP) as page:
        tile = page.locator("a[data-health=printer_fault]")
        for _ in range(50):  # the diagnosis loop opens the paper-out incident
            if tile.locator("b").inner_text() == "1":
                break
            page.wait_for_timeout(200)
            page.reload()
        tile.click()
        page.wait_for_url(re.compile(r".*/ui/inventory\?status=printer_fault"))
        rows = page.locator("#inventory tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-terminal", "T1002")
        expect(rows.first).to_contain_text("Printer fault")

        # search by merchant name, then by serial prefix
        page.goto(f"{srv.url}/ui/inventory")
        expect(page.locator("#inventory-total")).to_contain_text("35 terminals")
        page.fill("#inventory-search", "东方")
        page.press("#inventory-search", "Enter")
        expect(page.locator("#inventory-total")).to_contain_text("30 terminals")
        page.fill("#inventory-search", "SN-0002")
        page.press("#inventory-search", "Enter")
        expect(rows).to_have_count(10)
        expect(rows.first).to_have_attribute("data-terminal", "T3020")

        # sort by firmware, descending (the selects submit themselves), 25 a page
        page.goto(f"{srv.url}/ui/inventory")
        page.select_option("select[name=size]", "25")
        page.wait_for_url(re.compile(r".*size=25"))
        page.select_option("select[name=sort]", "firmware")
        page.wait_for_url(re.compile(r".*sort=firmware"))
        page.select_option("select[name=order]", "desc")
        page.wait_for_url(re.compile(r".*order=desc"))
        expect(rows).to_have_count(25)
        expect(rows.first).to_have_attribute("data-terminal", "T3029")  # 2.2.0 first, ids desc
        first_page = [rows.nth(i).get_attribute("data-terminal") for i in range(25)]
        page.click("#page-next")
        expect(rows).to_have_count(10)
        second_page = [rows.nth(i).get_attribute("data-terminal") for i in range(10)]
        assert not set(first_page) & set(second_page)
        assert {*first_page, *second_page} >= {"T1001", "T1002", "T1003", "T2001", "T2002"}
        expect(page.locator("#page-next")).to_have_count(0)
        page.click("#page-prev")
        expect(rows.first).to_have_attribute("data-terminal", first_page[0])
        href = page.locator("#inventory-csv").get_attribute("href")
        assert href is not None
        assert "sort=firmware" in href
        assert "order=desc" in href
        with page.expect_download() as dl:
            page.click("#inventory-csv")
        body = dl.value.path().read_bytes().decode("utf-8-sig").splitlines()
        assert len(body) == 36
        assert body[1].startswith("T3029,")
        shot(page, "inventory")


def test_bulk_command_to_ticked_terminals_shows_each_answer(
    browser: Any,  # noqa: F811
    live_server: tuple[LiveServer, Seeded],
) -> None:
    from playwright.sync_api import expect

    srv, seeded = live_server
    no_printer = [c for c in ALL if c != "reprint"]
    _heartbeats(srv, seeded, {"T1001": ALL, "T1002": no_printer, "T2001": ALL})
    with logged_in(browser, srv.url, "ops", viewport=DESKTOP) as page:
        page.goto(f"{srv.url}/ui/inventory?model=PX-5")
        tick(page, ("T1001", "T1002", "T2001"))
        expect(page.locator("#bulk-count")).to_have_text("3")
        expect(page.locator("[data-can=reprint]")).to_have_text("2 of 3 can run it")
        page.check("input[data-command=reprint]")
        page.click("#bulk-next")
        expect(page.locator("#bulk-confirm-text")).to_contain_text("Send “Reprint” to 2 terminals.")
        expect(page.locator("#bulk-skipped")).to_contain_text("T1002")
        confirm_bulk(page)
        progress = page.locator("#bulk-progress")
        expect(progress).to_have_attribute("data-done", "no")
        expect(page.locator("#bulk-rows tr[data-terminal=T1002]")).to_have_attribute(
            "data-status", "skipped"
        )
        answer_command(srv, seeded, "T1001", "reprint", 600, "reprint queued as job 3")
        t1 = page.locator("#bulk-rows tr[data-terminal=T1001]")
        expect(t1).to_have_attribute("data-status", "succeeded")  # no reload: htmx polling
        expect(t1.locator(".result")).to_have_text("reprint queued as job 3")
        expect(page.locator("#bulk-answered")).to_have_text("1")
        answer_command(srv, seeded, "T2001", "reprint", 600, "reprint queued as job 9")
        expect(page.locator("#bulk-progress")).to_have_attribute("data-done", "yes")
        shot(page, "bulk-progress")


def test_host_incident_sends_to_its_affected_terminals(
    browser: Any,  # noqa: F811
    live_server: tuple[LiveServer, Seeded],
) -> None:
    from playwright.sync_api import expect

    srv, seeded = live_server
    now = datetime.now(UTC)
    for tid in ("T1003", "T2002"):
        post(srv, seeded, tid, [fault(tid, 100 + k, "NET.CONNECT_TIMEOUT", now) for k in range(2)])
    with logged_in(browser, srv.url, "ops") as page:
        open_incident(page, srv.url, "NET.HOST_UNREACHABLE")
        page.click("#incident-bulk-start")
        expect(page.locator("#bulk-count")).to_have_text("2")
        send_bulk(page, "re_sign_on")
        expect(page.locator("#bulk-rows tr[data-status=pending]")).to_have_count(2)
        answer_command(srv, seeded, "T1003", "re_sign_on", 700, "signed on with host acq-west")
        expect(page.locator("#bulk-rows tr[data-terminal=T1003]")).to_have_attribute(
            "data-status", "succeeded"
        )


def test_phone_width_inventory_and_bulk_progress(
    browser: Any,  # noqa: F811
    live_server: tuple[LiveServer, Seeded],
) -> None:
    """390 px wide: the page itself never scrolls sideways (the table scrolls inside its
    card) and no label is squeezed to one character per line."""
    from playwright.sync_api import expect

    srv, seeded = live_server
    _more_terminals(seeded, 3)
    with logged_in(
        browser,
        srv.url,
        "ops",
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    ) as page:
        page.goto(f"{srv.url}/ui/inventory")
        expect(page.locator("#inventory-total")).to_contain_text("共 8 台")

        def fits(selector: str) -> None:
            widths = page.evaluate(
                """(sel) => { const el = document.querySelector(sel);
                     return [document.documentElement.scrollWidth, window.innerWidth,
                             el.scrollWidth, el.clientWidth]; }""",
                selector,
            )
            page_width, viewport, inner, box = widths
            assert page_width <= viewport, widths  # nothing pushes the page sideways
            assert inner >= box, widths

        fits("#inventory-filters")
        fits(".card.scroll")
        # the table is wider than the phone: it scrolls inside its card
        inner, box = page.evaluate(
            "() => { const c = document.querySelector('.card.scroll');"
            " return [c.scrollWidth, c.clientWidth]; }"
        )
        assert inner > box
        # header cells keep their words on one line (no one-character-per-line columns)
        heights = page.evaluate(
            "() => [...document.querySelectorAll('#inventory th')].map(th => th.clientHeight)"
        )
        assert max(heights) < 40, heights
        # the menu's labels too: each on one line
        nav = page.evaluate(
            "() => [...document.querySelectorAll('header nav a')]"
            ".map(a => a.getClientRects().length)"
        )
        assert nav, nav
        assert set(nav) == {1}, nav
        link_heights = page.evaluate(
            "() => [...document.querySelectorAll('header nav a')].map(a => a.clientHeight || "
            "a.getBoundingClientRect().height)"
        )
        assert max(link_heights) < 30, link_heights
        shot(page, "inventory-phone")

        tick(page, ["T3000"])
        send_bulk(page, "doctor")
        expect(page.locator("#bulk-rows tr[data-terminal=T3000]")).to_have_attribute(
            "data-status", "pending"
        )
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        shot(page, "bulk-phone")


def test_timeline_filter_paging_and_time_zone(
    browser: Any,  # noqa: F811
    live_server: tuple[LiveServer, Seeded],
) -> None:
    from playwright.sync_api import expect

    srv, seeded = live_server
    now = datetime.now(UTC)
    small = [
        event("T2001", 1 + i, "transaction", now, type="sale", amount=100, outcome="declined")
        for i in range(55)
    ]
    sale = event(
        "T2001",
        60,
        "transaction",
        now,
        type="sale",
        amount=880000,
        outcome="approved",
        stan="000321",
        masked_pan="622588******4321",
        rrn="",
    )
    fault_ = fault("T2001", 61, "PRN.PAPER_OUT", now, state="paper_out")
    post(srv, seeded, "T2001", [*small, sale, fault_])
    with logged_in(browser, srv.url, "ops", viewport=DESKTOP) as page:
        page.goto(f"{srv.url}/ui/terminals/T2001")
        lines = page.locator("#timeline li")
        expect(lines.first).to_have_attribute("data-kind", "fault")
        expect(lines.nth(1)).to_contain_text("Sale ¥8,800.00 approved")
        # the kind filter swaps the timeline in place (htmx), then pages back in time
        page.select_option("#timeline-kind", "transaction")
        expect(lines.first).to_contain_text("Sale ¥8,800.00 approved")
        expect(lines).to_have_count(50)
        page.click("#timeline-older")
        expect(lines).to_have_count(6)
        page.click("#timeline-newest")
        expect(lines).to_have_count(50)
        assert "/ui/terminals/T2001" in page.url  # never left the page
        # Beijing time instead of UTC, on every page
        utc_text = page.locator("#timeline time").first.inner_text()
        assert utc_text.endswith("UTC")
        page.click("a.user")
        page.select_option("#time-zone", "Asia/Shanghai")
        page.click("#settings-save")
        expect(page.locator("#settings-saved")).to_be_visible()
        expect(page.locator("#time-example")).to_contain_text("UTC+8")
        page.goto(f"{srv.url}/ui/terminals/T2001")
        expect(page.locator("#timeline time").first).to_contain_text("UTC+8")
        shot(page, "timeline")
    # a merchant sees its sale as a statement line: no STAN, no masked card number
    with logged_in(browser, srv.url, "shop2") as page:
        page.goto(f"{srv.url}/ui/terminals/T2001/timeline?kind=transaction")
        first = page.locator("#timeline li").first
        expect(first).to_contain_text("•••• 4321")
        expect(first).not_to_contain_text("000321")
        expect(first).not_to_contain_text("622588")


def test_admin_users_transfer_and_maintenance(
    browser: Any,  # noqa: F811
    live_server: tuple[LiveServer, Seeded],
) -> None:
    from playwright.sync_api import expect

    srv, _ = live_server
    with logged_in(
        browser, srv.url, "admin", locale="zh-CN", viewport={"width": 390, "height": 844}
    ) as page:
        page.click("nav a[href='/ui/admin']")
        form = page.locator("#new-user")
        form.locator("input[name=username]").fill("ops2")
        form.locator("input[name=password]").fill("a long password")
        form.locator("select[name=role]").select_option("ops")
        page.click("#create-user")
        expect(page.locator("#admin-done")).to_contain_text("用户已创建")
        expect(page.locator("#users tr[data-user=ops2]")).to_have_attribute("data-disabled", "no")
        page.locator("#users tr[data-user=ops2] button").click()
        expect(page.locator("#users tr[data-user=ops2]")).to_have_attribute("data-disabled", "yes")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390

        page.fill("#admin-terminal-id", "T1002")
        page.click("#admin-terminal-go")
        page.select_option("#maintenance-form select[name=kind]", "inspection")
        page.fill("#maintenance-form input[name=note]", "换了打印头")
        page.click("#record")
        expect(page.locator("#records")).to_contain_text("换了打印头")
        page.fill("#transfer-merchant", "M02")
        page.click("#transfer")
        expect(page.locator("#admin-merchant")).to_have_text("M02")
        expect(page.locator("#credential")).to_contain_text("T1002")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        shot(page, "admin-terminal-phone")
        page.click("#revoke")
        expect(page.locator("#revoked")).to_be_visible()


def test_staged_rollback_pauses_on_failures(
    browser: Any,  # noqa: F811
    live_server: tuple[LiveServer, Seeded],
) -> None:
    from playwright.sync_api import expect

    srv, seeded = live_server
    with logged_in(browser, srv.url, "ops", viewport=DESKTOP) as page:
        page.goto(f"{srv.url}/ui/inventory?model=PX-5")
        page.click("#bulk-all")
        page.check("input[data-command=rollback]")
        page.fill("#first-pct", "30")
        page.fill("#max-failure", "20")
        page.click("#bulk-next")
        expect(page.locator("#bulk-stages")).to_contain_text("First 1 now; the other 2")
        confirm_bulk(page)
        expect(page.locator("#bulk-release")).to_be_disabled()
        answer_command(srv, seeded, "T1001", "rollback", 800, "rollback refused", status="failed")
        # the polled fragment brings the pause without a reload
        expect(page.locator("#bulk-paused")).to_be_visible()
        expect(page.locator("#bulk-stages tr[data-stage='1'] .rate")).to_have_text("100.0%")
        expect(page.locator("#bulk-release")).to_have_text("Release the next stage anyway")
        page.click("#bulk-release")
        expect(page.locator("#bulk-stages tr[data-stage='2']")).to_have_attribute(
            "data-released", "yes"
        )
        page.click("#bulk-stop")
        expect(page.locator("#bulk-progress")).to_have_attribute("data-state", "stopped")
        expect(page.locator("#bulk-rows tr[data-status=expired]")).to_have_count(2)
        shot(page, "bulk-staged")
