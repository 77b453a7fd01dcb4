"""A parameter push in a real browser (Debian's Chromium through Playwright, real uvicorn): the
terminals' heartbeats report their config; an operator ticks three terminals, picks a new
answer timeout and receipt header, names the first stage's terminal, sees each terminal's diff
before the one confirmation, confirms, and watches the first stage's answer arrive -- the
answer a real terminal config file gives when the pushed command is applied to it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from posguard.terminal import config_push
from posguard.terminal.service_config import load_service_config
from posguard.terminal.testing import local_config

from .conftest import LiveServer, Seeded, event
from .test_browser import _login, _post, _shot, browser  # noqa: F401 (fixture)
from .test_browser_console import ALL, _heartbeats

pytestmark = pytest.mark.browser

WITH_CONFIG = [*ALL, "update_config"]


def _report_config(srv: LiveServer, seeded: Seeded, configs: dict[str, dict[str, Any]]) -> None:
    """A newer heartbeat from each terminal, carrying its config."""
    now = datetime.now(UTC)
    for tid, config in configs.items():
        beat = event(tid, 501, "heartbeat", now, interval_s=60, commands=WITH_CONFIG, config=config)
        _post(srv, seeded, tid, [beat])


def _terminal_file(tmp_path: Path) -> Path:
    conf = tmp_path / "terminal.yaml"
    term = local_config(5800, tmp_path / "journal.db").model_dump(mode="json")
    conf.write_text(yaml.safe_dump({**term, "service": {"data_dir": str(tmp_path)}}))
    return conf


def test_diff_then_confirm_then_progress(
    browser: Any,  # noqa: F811
    live_server: tuple[LiveServer, Seeded],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    srv, seeded = live_server
    _heartbeats(srv, seeded, dict.fromkeys(("T1001", "T1002", "T2001"), WITH_CONFIG))
    conf = _terminal_file(tmp_path)
    t1001 = config_push.reported(load_service_config(conf))  # the real terminal's report
    _report_config(
        srv,
        seeded,
        {"T1001": t1001, "T1002": {**t1001, "timeouts.read": 12.0, "merchant_name": "新店"}},
    )
    ctx = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    _login(page, srv.url, "ops")
    page.goto(f"{srv.url}/ui/inventory?model=PX-5")
    for tid in ("T1001", "T1002", "T2001"):
        page.check(f"#inventory input[type=checkbox][value={tid}]")
    page.click("#bulk-selected")
    expect(page.locator("[data-can=update_config]")).to_have_text("3 of 3 can run it")
    page.check("input[data-command=update_config]")
    page.fill("#param-timeouts-read", "12")
    page.fill("#param-merchant_name", "新店")
    page.fill("#first-terminals", "T1001")
    page.click("#bulk-next")

    expect(page.locator("#push-diff-counts")).to_have_text(
        "1 will change, 1 already have these values, 1 have not reported their config."
    )
    read = page.locator("#push-diff tr[data-terminal=T1001][data-key='timeouts.read']")
    expect(read.locator(".old")).to_have_text("0.6")
    expect(read.locator(".new")).to_have_text("12")
    header = page.locator("#push-diff tr[data-terminal=T1001][data-key=merchant_name]")
    expect(header.locator(".old")).to_have_text("posguard test shop")
    expect(page.locator("#push-diff tr[data-terminal=T1002]")).to_have_attribute(
        "data-diff", "same"
    )
    expect(page.locator("#push-diff tr[data-terminal=T2001]")).to_have_attribute(
        "data-diff", "unknown"
    )
    expect(page.locator("#bulk-stages")).to_contain_text("First 1 now; the other 2")
    expect(page.locator("#bulk-first-list")).to_have_text("(T1001)")
    _shot(page, "config-push-diff")
    page.click("#bulk-confirm")
    page.wait_for_url(re.compile(r".*/ui/bulk/\d+$"))
    expect(page.locator("#bulk-progress")).to_have_attribute("data-state", "running")
    expect(page.locator("#push-params dd[data-key='timeouts.read']")).to_have_text("12")
    expect(page.locator("#bulk-stages tr[data-stage='2']")).to_have_attribute("data-released", "no")

    # T1001 takes its command and applies it to a real config file, as its agent would
    auth = {"Authorization": f"Bearer {seeded.credentials['T1001']}"}
    pending = httpx.get(
        f"{srv.url}/api/v1/terminals/T1001/commands/pending", headers=auth, timeout=10
    ).json()
    (cmd,) = [c for c in pending if c["name"] == "update_config"]
    applied = config_push.push(conf, cmd["args"])
    detail = config_push.summary(applied)
    answer = event(
        "T1001",
        600,
        "command_result",
        datetime.now(UTC),
        command_id=cmd["command_id"],
        status="ok",
        detail=detail,
    )
    _post(srv, seeded, "T1001", [answer])
    row = page.locator("#bulk-rows tr[data-terminal=T1001]")
    expect(row).to_have_attribute("data-status", "succeeded")  # no reload: htmx polling
    expect(row.locator(".result")).to_have_text(
        "2 changed; applied live: merchant_name; restart needed: timeouts.read"
    )
    expect(page.locator("#bulk-release")).to_be_enabled()
    _shot(page, "config-push-progress")
    assert load_service_config(conf).terminal.timeouts.read == 12.0
    page.click("#bulk-release")
    page.wait_for_url(re.compile(r".*/ui/bulk/\d+$"))
    expect(page.locator("#bulk-rows tr[data-status=pending]")).to_have_count(2)
    ctx.close()


def test_the_diff_at_phone_width_in_chinese(
    browser: Any,  # noqa: F811
    live_server: tuple[LiveServer, Seeded],
    tmp_path: Path,
) -> None:
    """390 px wide, zh: the parameter form and the diff fit; the page never scrolls sideways."""
    from playwright.sync_api import expect

    srv, seeded = live_server
    _heartbeats(srv, seeded, dict.fromkeys(("T1001", "T1002"), WITH_CONFIG))
    reported = config_push.reported(load_service_config(_terminal_file(tmp_path)))
    _report_config(srv, seeded, {"T1001": reported, "T1002": reported})
    ctx = browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    _login(page, srv.url, "ops")
    page.goto(f"{srv.url}/ui/bulk/new?terminal=T1001&terminal=T1002")
    page.check("input[data-command=update_config]")
    page.fill("#param-hosts", "primary=10.0.0.9:5800, backup1=10.0.0.10:5801")
    page.click("#bulk-next")
    expect(page.locator("#push-diff-counts")).to_have_text(
        "2 台将改变，0 台已是这些值，0 台尚未上报配置。"
    )
    new = page.locator("#push-diff tr[data-terminal=T1001][data-key=hosts] .new")
    expect(new).to_have_text("primary=10.0.0.9:5800, backup1=10.0.0.10:5801")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    _shot(page, "config-push-diff-phone")
    ctx.close()
