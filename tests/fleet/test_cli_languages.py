"""The fleet face's expected failures are one line in the user's language with the exit status
of their kind (issue 17: 2 fix the command, 4 unknown id, 5 database unavailable), never a
traceback unless ``--debug``; what it prints is in the language asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from posguard.cli import app

NOBODY_LISTENS = "postgresql+psycopg://postgres@127.0.0.1:1/fleet"  # port 1: refused at once


def fleet(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(app, ["fleet", *args])


def one_line(result: Result, exit_code: int, label: str = "error: ") -> str:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(label), lines
    return lines[0]


@pytest.mark.parametrize(("lang", "label"), [("en", "error: "), ("zh", "错误：")])
def test_a_bad_setting_names_its_variable(lang: str, label: str, migrated: str) -> None:
    env = {"POSGUARD_FLEET_MQTT_PORT": "not-a-port"}
    line = one_line(fleet("merchants", "--db", migrated, "--lang", lang, env=env), 2, label)
    assert "POSGUARD_FLEET_MQTT_PORT" in line
    if lang == "zh":
        assert "环境变量" in line


@pytest.mark.parametrize("command", ["merchants", "migrate", "serve", "incident show 1"])
def test_a_database_that_does_not_answer_is_exit_5(command: str) -> None:
    result = fleet(*command.split(), "--db", NOBODY_LISTENS, "--lang", "en")
    line = one_line(result, 5)
    assert "127.0.0.1" in line or "connect" in line.lower(), line
    assert "SELECT" not in line  # never SQLAlchemy's statement and parameters


def test_an_unmigrated_database_says_what_to_run_in_chinese(tmp_path: Path) -> None:
    (tmp_path / "fleet.db").touch()
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    line = one_line(fleet("serve", "--db", url, "--lang", "zh"), 2, "错误：")
    assert "尚未迁移" in line
    assert f"posguard fleet migrate --db {url}" in line


def test_unknown_ids_are_exit_4_in_both_languages(migrated: str) -> None:
    line = one_line(
        fleet("incident", "show", "99999", "--db", migrated, "--lang", "zh"), 4, "错误："
    )
    assert line == "错误：工单 99999 不存在"
    result = fleet(
        "create-user", "bob", "--role", "merchant", "--merchant", "M404",
        "--password", "a-long-password", "--db", migrated, "--lang", "zh",
    )  # fmt: skip
    assert "商户 M404 不存在" in one_line(result, 4, "错误：")


def test_debug_shows_the_traceback(migrated: str) -> None:
    result = fleet("incident", "show", "99999", "--db", migrated, "--lang", "en", "--debug")
    assert result.exit_code == 4
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: incident 99999 not found"


def test_what_the_fleet_prints_follows_the_language(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    zh = fleet("migrate", "--db", url, "--lang", "zh")
    assert zh.exit_code == 0, zh.output
    assert "终端管理数据库 空 ->" in zh.stdout
    assert fleet("add-merchant", "M1", "--db", url, "--lang", "zh").stdout == "商户 M1 已创建\n"
    en = fleet("add-merchant", "M1", "--name", "Shop", "--db", url, "--lang", "en")
    assert en.stdout == "merchant M1 updated\n"
    again = fleet("add-merchant", "M1", "--name", "Shop", "--db", url, "--lang", "zh")
    assert again.stdout == "商户 M1 未变\n"


def test_a_busy_port_is_one_line_in_chinese(migrated: str) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = fleet("serve", "--db", migrated, "--port", str(port), "--lang", "zh")
    line = one_line(result, 2, "错误：")
    assert f"无法在端口 {port} 上监听" in line


@pytest.mark.parametrize(
    ("args", "en", "zh"),
    [
        (["--role", "ops", "--password", "short"], "--password: at least 10", "密码至少 10 位"),
        (["--role", "boss", "--password", "x" * 12], "--role boss: admin, ops", "只能是 admin"),
    ],
)
def test_bad_create_user_input_is_one_line(
    migrated: str, args: list[str], en: str, zh: str
) -> None:
    for lang, label, text in (("en", "error: ", en), ("zh", "错误：", zh)):
        result = fleet("create-user", "bob", *args, "--db", migrated, "--lang", lang)
        assert text in one_line(result, 2, label)


def test_a_bad_date_is_one_line(migrated: str) -> None:
    add = ["add-terminal", "T1", "--merchant", "M1", "--model", "PX", "--acquirer-host", "a"]
    result = fleet(
        *add, "--area", "b", "--install-date", "yesterday", "--db", migrated, "--lang", "zh"
    )
    assert (
        one_line(result, 2, "错误：") == "错误：--install-date yesterday：日期格式应为 YYYY-MM-DD"
    )


def test_a_busy_metrics_port_is_one_line(migrated: str) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        args = ["mqtt-worker", "--db", migrated, "--broker-port", "1", "--lang", "en"]
        result = fleet(*args, "--metrics-port", str(port))
    line = one_line(result, 2)
    assert f"--metrics-port {port}: cannot listen" in line
