"""The operating manual's PDF (issue 20), written by `posguard kb manual --pdf` through Chromium:
a real PDF of several A4 pages (the cover, then each section on a page of its own). A module of
its own: Playwright's sync API cannot run while another module's browser is open in the thread."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posguard.cli import app

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def chromium() -> None:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (Debian package 'chromium')"
        if os.environ.get("POSGUARD_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.mark.browser
def test_pdf_from_the_command_line(chromium: None, tmp_path: Path) -> None:
    out_html, out_pdf = tmp_path / "manual.html", tmp_path / "manual.pdf"
    result = CliRunner().invoke(
        app,
        [
            "kb",
            "manual",
            "--model",
            "A920",
            "--merchant-type",
            "7011",
            "--html",
            str(out_html),
            "--pdf",
            str(out_pdf),
        ],
    )
    assert result.exit_code == 0, result.output
    data = out_pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages >= 6, pages  # cover + one page at least per section
    assert "op-preauth" in out_html.read_text(encoding="utf-8")
