"""The host face's expected failures, run as a user runs them: one line on stderr naming what
and what to do, the exit status of its kind (2: fix the command; 5: the database is not
usable), no traceback; `host serve` refuses before it listens and never hangs on the way out."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from posguard.cli import app

SERVE = [sys.executable, "-m", "posguard.cli", "host", "serve", "--lang", "en"]


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["host", *args, "--lang", "en"])


def one_line_error(stderr: str, output: str, code: int, exit_code: int) -> str:
    assert code == exit_code, (code, output)
    assert "Traceback" not in output
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), lines
    return lines[0]


def serve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,  # a refusal that leaves a thread behind would hang here
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def not_a_host_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize(
    ("command", "table"), [("journal", "journal"), ("exceptions", "transactions")]
)
def test_a_file_that_is_not_a_host_database_is_refused_untouched(
    tmp_path: Path, command: str, table: str
) -> None:
    db = not_a_host_db(tmp_path / "other.db")
    result = run(command, "--db", str(db))
    line = one_line_error(result.stderr, result.output, result.exit_code, 5)
    assert f"{db} is not a host database (no {table} table)" in line, line
    tables = sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("notes",)]  # nothing created in somebody else's file


@pytest.mark.parametrize("command", ["journal", "exceptions"])
def test_a_damaged_host_database_is_one_line(tmp_path: Path, command: str) -> None:
    db = tmp_path / "host.db"
    db.write_bytes(b"garbage, not sqlite " * 400)
    result = run(command, "--db", str(db))
    line = one_line_error(result.stderr, result.output, result.exit_code, 5)
    assert f"the host database {db} is damaged" in line, line
    assert "Restore it from a backup" in line


@pytest.mark.parametrize("command", ["journal", "exceptions"])
def test_no_host_database_says_how_one_is_made(tmp_path: Path, command: str) -> None:
    result = run(command, "--data-dir", str(tmp_path / "nothing"))
    line = one_line_error(result.stderr, result.output, result.exit_code, 2)
    assert "no host database at" in line
    assert "posguard host serve" in line


def test_serve_refuses_a_damaged_database_without_hanging(tmp_path: Path) -> None:
    db = tmp_path / "host.db"
    db.write_bytes(b"garbage, not sqlite " * 400)
    done = serve("--db", str(db), "--port", "0", cwd=tmp_path)
    line = one_line_error(done.stderr, done.stdout + done.stderr, done.returncode, 5)
    assert f"the host database {db} is damaged" in line
    assert "host listening" not in done.stdout


def test_serve_refuses_a_data_dir_it_cannot_make(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done = serve("--data-dir", str(blocker / "host"), "--port", "0", cwd=tmp_path)
    line = one_line_error(done.stderr, done.stdout + done.stderr, done.returncode, 2)
    assert f"cannot use the data directory {blocker / 'host'}" in line, line
    assert "--data-dir" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_serve_refuses_a_data_dir_it_cannot_write(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    done = serve("--data-dir", str(locked), "--port", "0", cwd=tmp_path)
    line = one_line_error(done.stderr, done.stdout + done.stderr, done.returncode, 2)
    assert "cannot use the data directory" in line, line


def test_serve_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve("--data-dir", str(tmp_path / "host"), "--port", str(port), cwd=tmp_path)
    line = one_line_error(done.stderr, done.stdout + done.stderr, done.returncode, 2)
    assert f"cannot listen on 127.0.0.1:{port}" in line, line
    assert "--port" in line
