"""What the browser tests do the same way, written once: the Chromium fixture (Debian's
``/usr/bin/chromium`` through Playwright), a logged-in page, posting events as a terminal,
answering a terminal's pending command, a working day with a read-timeout incident and a
paper-out in the making, waiting for the server's diagnosis loop to list an
incident, ticking inventory rows and sending a bulk command, and the README screenshots."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import PASSWORD, LiveServer, Seeded, event, fault

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The README's screenshots are refreshed only on request (POSGUARD_UPDATE_SCREENSHOTS=1), so an
# ordinary run leaves the tracked PNGs alone; otherwise they go to a scratch folder.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("POSGUARD_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "posguard-screenshots"
)
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module; skipped where it is missing (failed under
    ``POSGUARD_REQUIRE_SERVICES=1``, as in CI)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (Debian package 'chromium'; .ci/run installs it)"
        if os.environ.get("POSGUARD_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def login(page: Any, url: str, username: str) -> None:
    """The login form, from a page that redirects there, to the overview."""
    page.goto(f"{url}/ui/")
    assert "/ui/login" in page.url  # redirected: not logged in
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/$"))


@contextmanager
def logged_in(
    browser: Any, url: str, username: str, *, locale: str = "en-US", **context: Any
) -> Iterator[Any]:
    """A page of a new browser context (``locale`` and Playwright's other context options,
    e.g. ``viewport=DESKTOP``), 10 s timeouts, logged in as ``username``; closed after."""
    ctx = browser.new_context(locale=locale, **context)
    try:
        page = ctx.new_page()
        page.set_default_timeout(10_000)
        login(page, url, username)
        yield page
    finally:
        ctx.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def post(srv: LiveServer, seeded: Seeded, tid: str, events: list[dict[str, Any]]) -> None:
    """``events`` through the ingest API with ``tid``'s credential; all stored."""
    r = httpx.post(
        f"{srv.url}/api/v1/ingest/batch",
        json={"events": events},
        headers={"Authorization": f"Bearer {seeded.credentials[tid]}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == len(events), r.text


def answer_command(
    srv: LiveServer,
    seeded: Seeded,
    tid: str,
    name: str,
    seq: int,
    detail: str,
    *,
    status: str = "ok",
) -> None:
    """What the terminal does: picks its one pending command ``name`` up and answers it with
    a ``command_result`` event."""
    auth = {"Authorization": f"Bearer {seeded.credentials[tid]}"}
    pending = httpx.get(
        f"{srv.url}/api/v1/terminals/{tid}/commands/pending", headers=auth, timeout=10
    ).json()
    (cmd,) = [c for c in pending if c["name"] == name]
    result = event(
        tid,
        seq,
        "command_result",
        datetime.now(UTC),
        command_id=cmd["command_id"],
        status=status,
        detail=detail,
    )
    post(srv, seeded, tid, [result])


def open_incident(page: Any, url: str, code: str, *, query: str = "") -> None:
    """The rules run in the server's diagnosis loop: reload the incident list (bounded) until
    an incident of ``code`` is listed, then open it."""
    link = page.locator("#incident-list a", has_text=code).first
    for _ in range(50):
        page.goto(f"{url}/ui/incidents{query}")
        if link.count():
            break
        page.wait_for_timeout(200)
    link.click()


def tick(page: Any, terminals: Iterable[str]) -> None:
    """Tick the inventory rows of ``terminals`` and take them to the bulk command form."""
    for tid in terminals:
        page.check(f"#inventory input[type=checkbox][value={tid}]")
    page.click("#bulk-selected")


def confirm_bulk(page: Any) -> None:
    """The bulk form's confirmation, landing on the command's progress page."""
    page.click("#bulk-confirm")
    page.wait_for_url(re.compile(r".*/ui/bulk/\d+$"))


def send_bulk(page: Any, command: str) -> None:
    """In the bulk form: choose ``command``, go on, confirm, and land on its progress page."""
    page.check(f"input[data-command={command}]")
    page.click("#bulk-next")
    confirm_bulk(page)


def working_day_with_faults(srv: LiveServer, seeded: Seeded) -> None:
    """Three host read timeouts on T1001 (the host-read-timeouts rule: 3 in 2 minutes), paper
    out on T1002, and the ordinary traffic of a working day around them."""
    now = datetime.now(UTC)
    t = [now - timedelta(seconds=s) for s in range(60, 0, -1)]
    traffic = [event("T1001", 1, "heartbeat", t[0], interval_s=60, firmware="2.1.0")]
    for i in range(8):
        outcome = "approved" if i % 4 else "declined"
        traffic.append(event("T1001", 2 + i, "transaction", t[1 + i], type="sale", outcome=outcome))
    traffic.append(event("T1001", 10, "printer", t[10], state="ok", previous="ok", pending_jobs=0))
    traffic.append(
        event("T1001", 11, "reversal", t[11], stage="queued", stan="000123", batch="000001")
    )
    timeouts = [
        fault("T1001", 20 + i, "NET.READ_TIMEOUT", t[30 + i], host="primary") for i in range(3)
    ]
    post(srv, seeded, "T1001", traffic + timeouts)
    post(
        srv,
        seeded,
        "T1002",
        [
            event("T1002", 1, "printer", t[40], state="paper_out", previous="ok", pending_jobs=2),
            fault("T1002", 2, "PRN.PAPER_OUT", t[40], state="paper_out", pending_jobs=2),
        ],
    )
