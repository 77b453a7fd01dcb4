"""`posguard fleet training record` (issue 20): records a session with the dashboard form's
checks and prints its topics' error rate before and after; a mistake is every problem on one
line in the user's language, exit 2, nothing recorded. And `posguard fleet maintenance
network-rollup` builds the network report's daily rollup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from typer.testing import CliRunner

from posguard.cli import app
from posguard.fleet.db.models import NetworkDailyDay, TrainingSession

from .conftest import FleetDB, register


def _count(db: FleetDB) -> int:
    with db.sessions() as s:
        return s.scalar(select(func.count()).select_from(TrainingSession)) or 0


def test_record_from_the_command_line(sqlite_db: FleetDB) -> None:
    register(sqlite_db, "T1001")  # and its merchant M01
    runner = CliRunner()
    day = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    ok = runner.invoke(
        app,
        [
            "fleet",
            "training",
            "record",
            "--db",
            sqlite_db.url,
            "--merchant",
            "M01",
            "--operator",
            "03",
            "--topic",
            "OPS.QUICK_VOID",
            "--trainer",
            "Wang Fang",
            "--date",
            day,
            "--lang",
            "en",
        ],
    )
    assert ok.exit_code == 0, ok.output
    head = "recorded training #1: merchant M01, operator 03, topics OPS.QUICK_VOID"
    assert f"{head}, trainer Wang Fang, {day}" in ok.output
    assert "28 days before: - (0 transactions)" in ok.output
    assert "days after: - (0 transactions)" in ok.output
    assert _count(sqlite_db) == 1
    bad = runner.invoke(
        app,
        [
            "fleet",
            "training",
            "record",
            "--db",
            sqlite_db.url,
            "--merchant",
            "M77",
            "--topic",
            "PRN.PAPER_OUT",
            "--trainer",
            "x",
            "--date",
            "2099-01-01",
        ],
    )
    assert bad.exit_code == 2
    assert "没有商户 M77" in bad.output
    assert "不是操作差错代码：PRN.PAPER_OUT" in bad.output
    assert "培训日期不能晚于今天" in bad.output
    assert "Traceback" not in bad.output
    assert _count(sqlite_db) == 1


def test_network_rollup_from_the_command_line(sqlite_db: FleetDB) -> None:
    result = CliRunner().invoke(
        app,
        [
            "fleet",
            "maintenance",
            "network-rollup",
            "--db",
            sqlite_db.url,
            "--retention-days",
            "3",
            "--lang",
            "en",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "network rollup: 3 day(s) built" in result.output
    with sqlite_db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(NetworkDailyDay)) == 3
