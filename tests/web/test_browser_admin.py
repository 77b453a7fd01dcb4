"""Administration in a real browser (Debian's Chromium through Playwright, real uvicorn): an
admin registers a terminal from the admin page, reads its credential once, finds it in the
inventory; registering the same id again is refused with one line in Chinese."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import LiveServer, Seeded
from .test_browser import _login, _shot, browser  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser


def test_admin_registers_a_terminal_and_finds_it_in_the_inventory(
    browser: Any,  # noqa: F811
    live_server: tuple[LiveServer, Seeded],
) -> None:
    from playwright.sync_api import expect

    srv, _ = live_server
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    _login(page, srv.url, "admin")
    page.goto(f"{srv.url}/ui/admin")
    page.click("#admin-register")
    page.wait_for_url(re.compile(r".*/ui/admin/terminals/new$"))
    page.fill("#reg-id", "T3001")
    page.select_option("#reg-merchant", "M02")
    page.fill("#reg-brand", "Acme")
    page.fill("#reg-model", "PX-7")
    page.fill("#reg-serial", "SN-PX7-0001")
    page.fill("#reg-host", "acq-east")
    page.fill("#reg-area", "haidian")
    page.fill("#reg-location", "二楼收银台")
    page.click("#register")
    expect(page.locator("#credential-box h2")).to_have_text("终端 T3001 已登记")
    credential = page.locator("#credential").inner_text()
    assert re.fullmatch(r"\S{20,}", credential)
    _shot(page, "admin-register-done")

    page.goto(f"{srv.url}/ui/inventory")
    page.fill("#inventory-search", "SN-PX7")
    page.press("#inventory-search", "Enter")
    rows = page.locator("#inventory tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-terminal", "T3001")
    expect(rows.first).to_contain_text("PX-7")

    page.goto(f"{srv.url}/ui/admin/terminals/new")
    page.fill("#reg-id", "T3001")
    page.select_option("#reg-merchant", "M02")
    page.fill("#reg-model", "PX-7")
    page.fill("#reg-host", "acq-east")
    page.fill("#reg-area", "haidian")
    page.click("#register")
    expect(page.locator("#register-error")).to_contain_text("终端 T3001 已登记")
    expect(page.locator("#credential")).to_have_count(0)
    expect(page.locator("#reg-id")).to_have_value("T3001")
    _shot(page, "admin-register-duplicate")
    ctx.close()


def test_merchant_with_two_names_and_a_contact_at_phone_width(
    browser: Any,  # noqa: F811
    live_server: tuple[LiveServer, Seeded],
) -> None:
    """At 390 px the merchant forms are usable (no label one character a line, the contact
    table scrolls inside its card) and the reader sees the name in English."""
    from playwright.sync_api import expect

    srv, _ = live_server
    ctx = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    _login(page, srv.url, "admin")
    page.goto(f"{srv.url}/ui/admin/merchants")
    page.fill("#m-id", "M05")
    page.fill("#m-name-zh", "静安咖啡馆")
    page.fill("#m-name-en", "Jing'an Cafe")
    page.click("#create-merchant")
    page.wait_for_url(re.compile(r".*/ui/admin/merchants/M05\?done=created$"))
    expect(page.locator("#merchant-name")).to_have_text("Jing'an Cafe")
    page.fill("#c-person", "Ms Wang")
    page.fill("#c-phone", "+86 21 5555 0101")
    page.fill("#c-channel", "mail")
    page.fill("#c-address", "wang@cafe")  # not an address
    page.click("#add-contact")
    expect(page.locator("#merchant-error")).to_have_text("e-mail address 'wang@cafe' is not valid")
    expect(page.locator("#c-person")).to_have_value("Ms Wang")
    page.fill("#c-address", "wang@cafe.example")
    page.select_option("#c-lang", "en")
    page.click("#add-contact")
    expect(page.locator("#contacts tbody tr")).to_have_count(1)
    expect(page.locator("#contacts tbody tr")).to_contain_text("wang@cafe.example")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 392, f"the page scrolls sideways at 390 px ({width} px)"
    for label in page.locator("#new-contact label").all():
        box = label.bounding_box()
        assert box is not None
        assert box["width"] > 60, f"label squeezed to {box['width']} px"
    _shot(page, "admin-merchant-phone")
    page.goto(f"{srv.url}/ui/admin/merchants")
    expect(page.locator('tr[data-merchant="M05"]')).to_contain_text("Jing'an Cafe")
    ctx.close()
