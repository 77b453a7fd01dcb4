"""`posguard fleet notify channels | test | log`, and the fleet app starting notifications
from POSGUARD_NOTIFY_CONFIG: an acknowledgement made through the API reaches the receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from posguard.cli import app as cli
from posguard.fleet.clock import FakeClock
from posguard.fleet.notify.settings import get_notify_settings

from ..conftest import FleetDB, make_api, register
from .conftest import Receiver, outbox_rows


def _write_config(tmp_path: Path, url: str, on: str = "[open, ack, resolve]") -> Path:
    path = tmp_path / "notify.yaml"
    path.write_text(
        "public_url: https://fleet.example\n"
        "channels:\n"
        f"  - {{id: hook, type: webhook, url: '{url}/hook',\n"
        "      secret: {env: PG_TEST_HOOK_SECRET}}\n"
        "  - {id: robot, type: dingtalk, token: {env: PG_UNSET_TOKEN},\n"
        "      secret: {env: PG_UNSET_SECRET}}\n"
        "routes:\n"
        f"  - {{id: all, hold_s: 0, send_on: {on}, notify: [{{channel: hook}}]}}\n",
        encoding="utf-8",
    )
    return path


def test_cli_channels_test_and_log(
    tmp_path: Path, sqlite_db: FleetDB, receiver: Receiver, hook_secret: str
) -> None:
    runner = CliRunner(env={"POSGUARD_LANG": "en"})
    cfg = _write_config(tmp_path, receiver.url)
    r = runner.invoke(cli, ["fleet", "notify", "channels", "--config", str(cfg)])
    assert r.exit_code == 1, r.output  # the robot's secrets are not set
    assert "hook\twebhook\tno limit\tsecret=env:PG_TEST_HOOK_SECRET (ok)" in r.output
    assert "robot\tdingtalk\t20/min\t" in r.output
    assert "(MISSING)" in r.output
    assert hook_secret not in r.output

    r = runner.invoke(
        cli,
        [
            "fleet",
            "notify",
            "test",
            "hook",
            "--config",
            str(cfg),
            "--db",
            sqlite_db.url,
            "--lang",
            "en",
        ],
    )
    assert r.exit_code == 0, r.output
    assert r.output.startswith("hook: sent")
    body = receiver.accepted[0].json()
    assert body["transition"] == "test"
    assert "channel hook works" in body["title"]

    r = runner.invoke(
        cli, ["fleet", "notify", "test", "robot", "--config", str(cfg), "--db", sqlite_db.url]
    )
    assert r.exit_code == 1
    assert "environment variable PG_UNSET_TOKEN is not set" in r.output

    r = runner.invoke(cli, ["fleet", "notify", "log", "--db", sqlite_db.url])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 2
    assert "\trobot\t-\tfailed\t1\tenvironment variable PG_UNSET_TOKEN is not set" in lines[0]
    assert "\thook\t-\tsent\t1" in lines[1]

    bad = tmp_path / "bad.yaml"
    bad.write_text("channels:\n  - {id: h, type: webhook, url: 'ftp://x'}\n")
    r = runner.invoke(cli, ["fleet", "notify", "channels", "--config", str(bad)])
    assert r.exit_code == 2
    assert "bad.yaml: channels entry 1 (h): field 'url'" in r.output


@pytest.fixture
def notify_env(
    tmp_path: Path, receiver: Receiver, hook_secret: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.setenv("POSGUARD_NOTIFY_CONFIG", str(_write_config(tmp_path, receiver.url)))
    monkeypatch.setenv("POSGUARD_NOTIFY_POLL_S", "0.05")
    get_notify_settings.cache_clear()
    yield
    get_notify_settings.cache_clear()


def _wait(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_fleet_app_runs_notifications(
    notify_env: None, sqlite_db: FleetDB, clock: FakeClock, receiver: Receiver, catalog: Any
) -> None:
    """The app installs the hook on its own sessions and runs the delivery loop: an incident
    opened by the diagnosis code and acknowledged through the API reaches the receiver."""
    from posguard.fleet.diagnosis.observed import Open
    from posguard.fleet.diagnosis.rules import load_rules
    from posguard.fleet.incidents import IncidentApplier

    for api in make_api(sqlite_db, clock):
        ctx = api.client.app.state.fleet
        applier = IncidentApplier(
            rules={r.id: r for r in load_rules(catalog=catalog)}, catalog=catalog
        )
        with ctx.sessions.begin() as s:
            (inc,) = applier.apply(
                s,
                [
                    Open(
                        rule_id="printer-paper-out",
                        scope="terminal:T1",
                        code="PRN.PAPER_OUT",
                        at=clock.now(),
                        reason="t",
                        events=(),
                        terminal_id="T1",
                        merchant_id="M01",
                    )
                ],
            ).opened
        _wait(lambda: len(receiver.accepted) == 1)
        r = api.client.post(f"/api/v1/incidents/{inc}/ack", headers=api.headers["ops"])
        assert r.status_code == 200, r.text
        _wait(lambda: len(receiver.accepted) == 2)
        assert [r.json()["transition"] for r in receiver.accepted] == ["open", "ack"]
        assert receiver.accepted[1].json()["incidents"][0]["by"] == "ops"
        # the row is marked sent just after the receiver answered: wait for that too
        expected = [("open", "sent"), ("ack", "sent")]
        _wait(lambda e=expected: [(r.transition, r.status) for r in outbox_rows(sqlite_db)] == e)
        assert [(r.transition, r.status) for r in outbox_rows(sqlite_db)] == expected


def test_a_diagnosis_shard_enqueues_what_it_opens(
    notify_env: None, sqlite_db: FleetDB, catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``fleet diagnose`` shard opens incidents through its own sessions: it installs the
    enqueueing hook (the API workers deliver), so its incidents are notified too."""
    from posguard.fleet.config import FleetSettings
    from posguard.fleet.context import FleetContext
    from posguard.fleet.diagnosis.observed import Open
    from posguard.fleet.diagnosis.rules import load_rules
    from posguard.fleet.incidents import IncidentApplier
    from posguard.fleet.notify.service import install_hook

    register(sqlite_db, "T1", merchant_id="M01")
    ctx = FleetContext.build(FleetSettings(database_url=sqlite_db.url, jwt_secret="s" * 40))
    try:
        assert install_hook(ctx)
        applier = IncidentApplier(
            rules={r.id: r for r in load_rules(catalog=catalog)}, catalog=catalog
        )
        with ctx.sessions.begin() as s:
            applier.apply(
                s,
                [
                    Open(rule_id="printer-paper-out", scope="terminal:T1", code="PRN.PAPER_OUT",
                         at=ctx.clock.now(), reason="t", events=(), terminal_id="T1",
                         merchant_id="M01")
                ],
            )  # fmt: skip
        assert [r.transition for r in outbox_rows(sqlite_db)] == ["open"]
    finally:
        ctx.close()
    monkeypatch.delenv("POSGUARD_NOTIFY_CONFIG")
    get_notify_settings.cache_clear()
    bare = FleetContext.build(FleetSettings(database_url=sqlite_db.url, jwt_secret="s" * 40))
    try:
        assert not install_hook(bare)
    finally:
        bare.close()
