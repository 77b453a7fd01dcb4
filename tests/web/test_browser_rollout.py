"""A software rollout in a real browser (Debian's Chromium through Playwright, real uvicorn):
an admin's uploaded package chosen for ``update`` in a bulk action, staged (first share, pause
above 20 %), confirmed once; then a bad-firmware incident on the first stage's terminal offers
"stop the rollout" as a button, and pressing it pauses the rollout."""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import BulkAction, Command, Incident

from .conftest import PASSWORD, T0, LiveServer, Seeded
from .test_browser import _login, _shot, browser  # noqa: F401 (fixture)
from .test_browser_console import ALL, _heartbeats

pytestmark = pytest.mark.browser


@pytest.fixture
def rollout_server(seeded: Seeded, tmp_path: Path) -> Iterator[tuple[LiveServer, Seeded]]:
    settings = seeded.settings.model_copy(update={"package_dir": tmp_path / "packages"})
    with LiveServer(settings) as srv:
        yield srv, seeded


def _upload(srv: LiveServer) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"2.2.0\n"
        info = tarfile.TarInfo("VERSION")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    token = httpx.post(
        f"{srv.url}/api/v1/auth/token",
        data={"username": "admin", "password": PASSWORD},
        timeout=10,
    ).json()["access_token"]
    r = httpx.post(
        f"{srv.url}/api/v1/packages",
        files={"file": ("px5-2.2.0.tar.gz", buf.getvalue(), "application/gzip")},
        data={"version": "2.2.0", "models": "PX-5"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["sha256"])


def test_staged_rollout_and_the_incidents_stop_button(
    browser: Any,  # noqa: F811
    rollout_server: tuple[LiveServer, Seeded],
) -> None:
    from playwright.sync_api import expect

    srv, seeded = rollout_server
    sha = _upload(srv)
    with_update = [*ALL, "update"]
    _heartbeats(srv, seeded, {"T1001": with_update, "T1002": with_update, "T2001": with_update})
    ctx = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    _login(page, srv.url, "ops")
    page.goto(f"{srv.url}/ui/inventory?model=PX-5")
    for tid in ("T1001", "T1002", "T2001"):
        page.check(f"#inventory input[type=checkbox][value={tid}]")
    page.click("#bulk-selected")
    page.check("input[data-command=update]")
    page.select_option("#bulk-package", sha)
    page.fill("#first-pct", "30")
    page.click("#bulk-next")
    expect(page.locator("#bulk-package-text")).to_contain_text("Firmware 2.2.0 (models: PX-5")
    expect(page.locator("#bulk-stages")).to_contain_text("First 1 now; the other 2")
    page.click("#bulk-confirm")
    page.wait_for_url(re.compile(r".*/ui/bulk/\d+$"))
    bulk_id = int(page.url.rsplit("/", 1)[1])

    engine = make_engine(seeded.url)
    try:
        with make_sessionmaker(engine).begin() as s:
            (first,) = s.scalars(select(Command).where(Command.bulk_id == bulk_id)).all()
            assert first.args["sha256"] == sha
            inc = Incident(
                rule_id="bad-firmware-rollout",
                scope="model:PX-5",
                open_key="bad-firmware-rollout|model:PX-5",
                code="SW.UPDATE_FAILED",
                severity="major",
                status="open",
                explanation={"reason": "test", "members": [first.terminal_id]},
                opened_at=T0,
            )
            s.add(inc)
            s.flush()
            incident_id = inc.id
        page.goto(f"{srv.url}/ui/incidents/{incident_id}")
        line = page.locator(f"#incident-rollout [data-bulk='{bulk_id}']")
        expect(line).to_have_attribute("data-state", "running")
        expect(line).to_contain_text(f"Rollout #{bulk_id}: version 2.2.0")
        page.click(f"#rollout-pause-{bulk_id}")
        page.wait_for_url(re.compile(rf".*/ui/incidents/{incident_id}$"))
        expect(line).to_have_attribute("data-state", "paused")
        expect(page.locator(f"#rollout-pause-{bulk_id}")).to_have_count(0)
        _shot(page, "incident-rollout-paused")
        with make_sessionmaker(engine)() as s:
            bulk = s.get(BulkAction, bulk_id)
            assert bulk is not None
            assert (bulk.state, bulk.sent) == ("paused", 1)
    finally:
        engine.dispose()
        ctx.close()
