"""The terminal face's expected failures, run as a user runs them (the `posguard` CLI): each
is one line on stderr saying what is wrong and what to do, with the exit status of its kind
(2 for what the user wrote, 5 for what is not usable now), and no traceback unless --debug."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from posguard.cli import app

PAN = ["--pan", "6214830000000000015", "--expiry", "3012", "--amount", "12.34"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["terminal", *args])


def one_line_error(result: Result, exit_code: int) -> str:
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A lab config whose hosts are two ports nothing listens on."""
    path = tmp_path / "terminal.yaml"
    primary, backup = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    made = run("init", str(path), "--primary", primary, "--backup", backup)
    assert made.exit_code == 0, made.output
    return path


@pytest.mark.parametrize("command", [["sign-on"], ["sale", *PAN], ["settle"]])
def test_no_host_answering_is_one_line_with_the_code_and_next_step(
    config: Path, command: list[str]
) -> None:
    line = one_line_error(run(*command, "-c", str(config), "--lang", "en"), 5)
    assert line.startswith("error: NET.CONNECT_REFUSED: Host refused the connection"), line
    assert "nothing was sent or charged" in line
    assert "posguard host serve" in line
    assert "posguard terminal doctor" in line
    zh = one_line_error(run(*command, "-c", str(config), "--lang", "zh"), 5)
    assert zh.startswith("错误：NET.CONNECT_REFUSED：主机拒绝连接"), zh


def test_a_sale_with_json_still_prints_its_json(config: Path) -> None:
    result = run("sale", *PAN, "-c", str(config), "--json", "--lang", "en")
    one_line_error(result, 5)
    assert json.loads(result.stdout)["code"] == "NET.CONNECT_REFUSED"


def test_a_config_that_is_not_yaml_names_file_and_line(config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace("hosts:\n", "hosts: [\n", 1)
    config.write_text(text, encoding="utf-8")
    line = one_line_error(run("sign-on", "-c", str(config), "--lang", "en"), 2)
    assert line.startswith(f"error: {config}:"), line
    where = line.removeprefix(f"error: {config}:").split(":")[0]
    assert where.isdigit(), line
    # the line YAML trips on: the first host entry after the unclosed "["
    assert text.splitlines()[int(where) - 1].strip().startswith("- {name: primary"), line
    assert "not valid YAML" in line
    assert "terminal init" in line


def test_debug_shows_the_traceback(config: Path) -> None:
    config.write_text("hosts: [\n  - {a\n", encoding="utf-8")
    result = run("sign-on", "-c", str(config), "--lang", "en", "--debug")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {config}:2:")


@pytest.mark.parametrize(
    ("content", "mode", "says"),
    [
        ("not hex at all\n", 0o600, "does not hold hex digits"),
        ("00" * 16 + "\n", 0o644, "readable by group or others"),
        (None, 0o600, "cannot be read"),
    ],
    ids=["garbage", "mode-644", "missing"],
)
def test_a_bad_key_file_is_one_line(
    config: Path, content: str | None, mode: int, says: str
) -> None:
    key = config.parent / "tmk.key"
    if content is None:
        key.unlink()
    else:
        key.write_text(content, encoding="utf-8")
        key.chmod(mode)
    line = one_line_error(run("sign-on", "-c", str(config), "--lang", "en"), 2)
    assert says in line, line
    assert str(key) in line, line
    assert "terminal init" in line


def test_a_damaged_journal_is_one_line_and_kept(config: Path) -> None:
    journal = config.parent / "journal.db"
    journal.write_bytes(b"this is not a database" * 300)
    line = one_line_error(run("journal", "-c", str(config), "--lang", "en"), 5)
    assert f"the journal {journal} is not a readable journal database" in line, line
    assert "Do not delete it" in line
    assert journal.read_bytes().startswith(b"this is not a database")  # left as it was


@pytest.fixture
def locked_journal(config: Path) -> Iterator[Path]:
    """The journal held under an exclusive lock by another connection (a stuck process)."""
    journal = config.parent / "journal.db"
    assert run("journal", "-c", str(config)).exit_code == 0  # creates it
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(journal, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        held.set()
        release.wait(60)
        conn.rollback()
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    yield journal
    release.set()
    thread.join()


def test_a_locked_journal_is_one_line(config: Path, locked_journal: Path) -> None:
    line = one_line_error(run("sign-on", "-c", str(config), "--lang", "en"), 5)
    assert f"the journal {locked_journal} is locked by another process" in line, line
    assert "try again" in line
