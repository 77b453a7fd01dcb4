"""The operating manual as a printable HTML page (A4, each section on a new page) and as a PDF,
printed from that HTML by Chromium through Playwright (the same browser the dashboard's tests
use: no second layout engine to keep in step)."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from posguard.common.errors import ConfigError
from posguard.kb.manual.content import Manual

CHROMIUM = Path("/usr/bin/chromium")


@cache
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("posguard.kb.manual", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(manual: Manual, *, today: date | None = None) -> str:
    """The manual as one self-contained HTML page (no external file, no script)."""
    return _env().get_template("manual.html").render(m=manual, today=today or date.today())


def render_pdf(html: str, *, chromium: Path = CHROMIUM) -> bytes:
    """The PDF of ``html`` (A4), printed by Chromium; ConfigError when it is not available."""
    if not chromium.exists():
        raise ConfigError(f"manual PDF: {chromium} is missing (Debian package 'chromium')")
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError as exc:
        raise ConfigError("manual PDF: the 'playwright' package is not installed") from exc
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(chromium), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.set_content(html, wait_until="load")
            return page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
        finally:
            browser.close()
