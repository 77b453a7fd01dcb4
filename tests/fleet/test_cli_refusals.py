"""The fleet refuses to run broken, in one line: `fleet serve` / `mqtt-worker` on a database
they cannot use, `create-user` on bad input, `fleet serve` / `host serve` on a bad or busy
port. Run through `posguard.cli.main`, the console entry point, as an operator would."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from posguard.cli import main
from posguard.fleet.db.check import check_database
from posguard.fleet.db.engine import make_engine
from posguard.fleet.db.migrate import upgrade

from .conftest import Api


@pytest.fixture(autouse=True)
def _english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSGUARD_LANG", "en")  # the messages below are the English ones


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run `posguard ARGS` in English; it must refuse: exit 2 and one line on stderr, no
    traceback."""
    monkeypatch.setenv("POSGUARD_LANG", "en")
    monkeypatch.setattr(sys, "argv", ["posguard", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    out = capsys.readouterr()
    assert exit_.value.code == 2, out
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in out.err + out.out
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", ["serve", "mqtt-worker"])
def test_a_missing_folder_is_refused_and_not_created(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: str,
) -> None:
    url = f"sqlite:///{tmp_path / 'nowhere' / 'fleet.db'}"
    line = _run(monkeypatch, capsys, "fleet", command, "--db", url)
    assert "folder" in line
    assert "does not exist" in line
    assert "posguard fleet migrate" in line
    assert not (tmp_path / "nowhere").exists()


def test_a_never_migrated_file_is_refused_with_the_command_to_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "fleet.db").touch()
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    line = _run(monkeypatch, capsys, "fleet", "serve", "--db", url)
    assert "not migrated" in line
    assert f"run `posguard fleet migrate --db {url}`" in line


def test_a_read_only_or_outdated_database_is_not_usable(migrated: str, tmp_path: Path) -> None:
    path = migrated.removeprefix("sqlite:///")
    read_only = check_database(f"sqlite:///file:{path}?mode=ro&uri=true", probe_write=True)
    assert (read_only.ok, read_only.problem) == (False, "read-only")
    engine = make_engine(migrated)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    engine.dispose()
    behind = check_database(migrated)
    assert not behind.ok
    assert behind.problem is not None
    assert behind.problem.startswith("schema 0001, this version needs")


@pytest.mark.parametrize("face", ["fleet", "host"])
def test_an_impossible_port_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    migrated: str,
    tmp_path: Path,
    face: str,
) -> None:
    db = migrated if face == "fleet" else str(tmp_path / "host.db")
    line = _run(monkeypatch, capsys, face, "serve", "--port", "99999", "--db", db)
    assert "--port 99999" in line


@pytest.mark.parametrize("face", ["fleet", "host"])
def test_a_busy_port_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    migrated: str,
    tmp_path: Path,
    busy_port: int,
    face: str,
) -> None:
    db = migrated if face == "fleet" else str(tmp_path / "host.db")
    line = _run(monkeypatch, capsys, face, "serve", "--port", str(busy_port), "--db", db)
    assert "address already in use" in line.lower()


def test_create_user_refuses_an_unmigrated_database_and_an_unknown_merchant(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    password = "a-new-password-0123"
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    line = _run(
        monkeypatch, capsys, "fleet", "create-user", "bob", "--role", "ops",
        "--password", password, "--db", fresh,
    )  # fmt: skip
    assert "posguard fleet migrate" in line
    assert "argon2" not in line
    assert password not in line
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    engine.dispose()
    capsys.readouterr()  # the migration's own log
    # a missing merchant is an unknown id (exit 4), not a usage error
    monkeypatch.setattr(sys, "argv", [
        "posguard", "fleet", "create-user", "bob", "--role", "merchant",
        "--merchant", "M404", "--password", password, "--db", f"sqlite:///{tmp_path / 'm.db'}",
    ])  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        main()
    out = capsys.readouterr()
    assert exit_.value.code == 4, out
    assert out.err.strip().splitlines() == [
        "error: merchant M404 does not exist (create it with `posguard fleet add-merchant`)"
    ]
    assert password not in out.err + out.out


def test_readiness_reports_a_database_gone_wrong(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    assert api.client.get("/readyz").status_code == 200
    with api.db.engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    ready = api.client.get("/readyz")
    assert ready.status_code == 503
    assert "posguard fleet migrate" in ready.json()["detail"]
    health = api.client.get("/healthz")
    assert (health.status_code, health.json()["database"]) == (200, "unavailable")
