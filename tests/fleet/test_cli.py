"""`posguard fleet ...` from the top-level command: migrate, add-terminal, create-user."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from posguard.cli import app
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import Terminal, User
from posguard.fleet.security import verify_password, verify_terminal_secret


def test_migrate_add_terminal_and_create_user(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'fleet.db'}"
    runner = CliRunner(env={"POSGUARD_LANG": "en"})
    r = runner.invoke(app, ["fleet", "migrate", "--db", url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "fleet",
            "add-terminal",
            "T9",
            "--merchant",
            "M9",
            "--model",
            "PX-5",
            "--acquirer-host",
            "acq-1",
            "--area",
            "pudong",
            "--install-date",
            "2026-01-02",
            "--db",
            url,
        ],
    )
    assert r.exit_code == 0, r.output
    token = r.output.strip().splitlines()[-1]
    assert token.startswith("T9.")
    r = runner.invoke(
        app,
        [
            "fleet",
            "create-user",
            "ana",
            "--role",
            "ops",
            "--password",
            "long-enough-pw",
            "--db",
            url,
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["fleet", "create-user", "bob", "--role", "boss", "--password", "x" * 12, "--db", url]
    )
    assert r.exit_code != 0
    assert "admin, ops or merchant" in r.output
    r = runner.invoke(
        app,
        [
            "fleet",
            "add-terminal",
            "T8",
            "--merchant",
            "M9",
            "--model",
            "PX",
            "--acquirer-host",
            "a",
            "--area",
            "b",
            "--install-date",
            "yesterday",
            "--db",
            url,
        ],
    )
    assert r.exit_code != 0
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        terminal = s.get(Terminal, "T9")
        assert terminal is not None
        assert verify_terminal_secret(token, terminal.credential_hash)
        assert str(terminal.install_date) == "2026-01-02"
        user = s.get(User, "ana")
        assert user is not None
        assert verify_password("long-enough-pw", user.password_hash)
        assert s.scalars(select(Terminal.id)).all() == ["T9"]  # the bad date left nothing behind
    engine.dispose()


def test_mqtt_worker_takes_a_stable_client_id_and_session_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker restarted with the same --client-id resumes its broker session (and gets back
    what it had not acknowledged): the options must reach the worker."""
    from posguard.fleet.ingest import mqtt_worker

    seen: dict[str, object] = {}

    class Recorder:
        def __init__(self, store: object, **kwargs: object) -> None:
            seen.update(kwargs)
            self.subscribed = asyncio.Event()

        async def run(self, stop: asyncio.Event) -> None:
            stop.set()  # a supervised loop that returns unasked is started again

    monkeypatch.setattr(mqtt_worker, "MqttIngestWorker", Recorder)
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["fleet", "migrate", "--db", url]).exit_code == 0
    r = runner.invoke(
        app,
        ["fleet", "mqtt-worker", "--db", url, "--client-id", "ingest-1", "--session-expiry", "300"],
    )
    assert r.exit_code == 0, r.output
    assert (seen["client_id"], seen["session_expiry_s"]) == ("ingest-1", 300)
