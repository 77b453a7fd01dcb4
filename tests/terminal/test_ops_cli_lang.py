"""`posguard terminal printer status` and `posguard terminal supervise` speak the user's
language: Chinese by default, English with ``--lang en`` (issue 17), keeping the values a
script quotes (state, catalog code, final state) in the line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from posguard.cli import app
from posguard.terminal.ops_text import FINAL_STATES, PRINTER_STATES
from posguard.terminal.printer.status import PrinterStatus
from posguard.terminal.printer.testing import running_printer

CLI = [sys.executable, "-c", "from posguard.cli import main; main()"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "POSGUARD_LANG"}
    env["LANG"] = "C.UTF-8"
    return env


def test_every_printer_state_has_words_in_both_languages() -> None:
    assert set(PRINTER_STATES) == {s.value for s in PrinterStatus}
    for zh, en in PRINTER_STATES.values():
        assert zh
        assert en != zh


@pytest.mark.parametrize(
    ("lang", "state_line", "ident_line"),
    [
        (None, "打印机：缺纸（paper_out，PRN.PAPER_OUT）", "型号 TM-T88V，型号编号 32，厂商 EPSON"),
        ("zh", "打印机：缺纸（paper_out，PRN.PAPER_OUT）", "型号 TM-T88V，型号编号 32，厂商 EPSON"),
        (
            "en",
            "printer: out of paper (paper_out, PRN.PAPER_OUT)",
            "model TM-T88V id 32 maker EPSON",
        ),
    ],
)
def test_printer_status_in_the_users_language(
    lang: str | None, state_line: str, ident_line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSGUARD_LANG", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    with running_printer(
        PrinterStatus.PAPER_OUT, model_name="TM-T88V", model_id=32, manufacturer="EPSON"
    ) as p:
        args = ["terminal", "printer", "status", "--host", p.host, "--port", str(p.port)]
        result = CliRunner().invoke(app, [*args, *(["--lang", lang] if lang else [])])
    assert result.exit_code == 1, result.output  # a receipt would not print
    assert result.stdout.splitlines() == [state_line, ident_line]


def test_printer_status_ok_exits_zero_in_english() -> None:
    with running_printer(PrinterStatus.OK) as p:
        args = ["terminal", "printer", "status", "--host", p.host, "--port", str(p.port)]
        result = CliRunner().invoke(app, [*args, "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["printer: ready (ok)"]


def _supervise(*extra: str, child: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *CLI,
            "terminal",
            "supervise",
            "--interval",
            "0.2",
            "--backoff",
            "0.05",
            *extra,
            "--",
            sys.executable,
            "-c",
            child,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_env(),
    )


def test_supervise_speaks_chinese_by_default() -> None:
    proc = _supervise("--exit-ends", child="pass")
    assert proc.returncode == 0, proc.stderr
    assert "警告：没有 --config 或 --outbox" in proc.stderr
    assert "warning" not in proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "看门狗结束：启动 1 次，卡死 0 次，崩溃 0 次"


def test_supervise_in_english_names_its_final_state() -> None:
    proc = _supervise(
        "--lang",
        "en",
        "--crash-limit",
        "2",
        "--crash-window",
        "60",
        child="import sys; sys.exit(5)",
    )
    assert proc.returncode == 3, proc.stderr
    assert "warning: no --config or --outbox" in proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == (
        "supervisor: 2 start(s), 0 freeze(s), 2 crash(es), stopped: crash_loop"
    )


def test_supervise_final_state_in_chinese() -> None:
    proc = _supervise("--crash-limit", "2", "--crash-window", "60", child="import sys; sys.exit(5)")
    assert proc.returncode == 3, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last == (
        "看门狗结束：启动 2 次，卡死 0 次，崩溃 2 次，最终状态："
        f"{FINAL_STATES['crash_loop'][0]}（crash_loop）"
    )


def test_supervise_bad_option_is_one_line_in_the_users_language() -> None:
    proc = _supervise("--interval", "-1", "--lang", "en", child="pass")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: cannot supervise:"), proc.stderr
    assert "Traceback" not in proc.stderr
    zh = _supervise("--interval", "-1", child="pass")
    assert zh.stderr.strip().startswith("错误：无法启动看门狗："), zh.stderr
