"""`posguard kb ...` through the root command, the way people and scripts call it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posguard.catalog import default_catalog
from posguard.catalog.checks import CheckResult
from posguard.cli import app
from posguard.kb.cli import _adapt
from posguard.kb.wizard import CheckOutcome

runner = CliRunner(env={"POSGUARD_LANG": "en"})


def test_search_json_is_a_ranked_list_of_code_and_score() -> None:
    r = runner.invoke(app, ["kb", "search", "小票打不出来 缺纸", "--json", "--limit", "3"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert isinstance(rows, list)
    assert 1 <= len(rows) <= 3
    assert rows[0]["code"] == "PRN.PAPER_OUT"
    assert [x["score"] for x in rows] == sorted((x["score"] for x in rows), reverse=True)


def test_search_json_empty_is_an_empty_list_and_a_usage_error() -> None:
    r = runner.invoke(app, ["kb", "search", "   ", "--json"])
    assert r.exit_code == 2
    assert json.loads(r.stdout) == []
    assert r.stderr.startswith("error: the complaint is empty")
    assert r.stderr.count("\n") == 1


def test_search_table_in_english_with_the_match_behind_explain() -> None:
    r = runner.invoke(app, ["kb", "search", "error 96", "--lang", "en"])
    assert r.exit_code == 0
    assert "TXN.HOST_ERROR" in r.stdout
    assert "response code 96" not in r.stdout
    r = runner.invoke(app, ["kb", "search", "error 96", "--lang", "en", "--explain"])
    assert r.exit_code == 0
    assert "TXN.HOST_ERROR: response code 96" in r.stdout


def test_search_prints_markup_safely() -> None:
    # Rich markup in a query must be printed as text, never interpreted (or crash on "[/]").
    r = runner.invoke(app, ["kb", "search", "[/] out of paper [bold]<script>"])
    assert r.exit_code == 0, r.output
    assert "PRN.PAPER_OUT" in r.stdout
    r = runner.invoke(app, ["kb", "search", "[/][/x] ###"])
    assert r.exit_code == 4, r.output
    assert "no runbook found for '[/][/x] ###'" in r.stderr


def test_walk_solved_on_the_second_step() -> None:
    r = runner.invoke(app, ["kb", "walk", "NET.DNS_FAILURE", "--lang", "en"], input="2\n1\n")
    assert r.exit_code == 0, r.output
    assert "1/" in r.stdout
    assert "2/" in r.stdout
    assert "Solved" in r.stdout


def test_walk_from_a_complaint_escalates_with_a_record_saved_to_a_file(tmp_path: Path) -> None:
    path = tmp_path / "handover.json"
    r = runner.invoke(
        app,
        ["kb", "walk", "打印机没纸了", "--terminal", "T7", "--record", str(path)],
        input="3\n4\n",
    )
    assert r.exit_code == 3
    assert f"record saved to {path}" in r.stdout
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["code"] == "PRN.PAPER_OUT"
    assert record["terminal_id"] == "T7"
    assert [(a["step"], a["answer"]) for a in record["answers"]] == [(1, "cant"), (2, "escalate")]
    assert [(s["step"], s["answered_by"], s["answer"]) for s in record["steps"]] == [
        (1, "person", "cant"),
        (2, "person", "escalate"),
    ]
    # the screen numbers the steps as the record does, and says what could not be done
    assert "1/" in r.stdout
    assert "2/" in r.stdout
    assert "recorded: step 1 could not be done" in r.stdout
    assert "1/5 could not do it" in r.stdout
    assert not list(tmp_path.glob("*.tmp"))


def test_walk_with_input_ending_hands_over(tmp_path: Path) -> None:
    record = tmp_path / "r.json"
    r = runner.invoke(app, ["kb", "walk", "PRN.OFFLINE", "--record", str(record), "--json"],
                      input="maybe\n")  # fmt: skip
    assert r.exit_code == 3
    assert "no answer (input ended)" in r.stdout
    assert json.loads(r.stdout[r.stdout.index("{") :]) == json.loads(record.read_text())


def test_walk_with_nothing_found() -> None:
    r = runner.invoke(app, ["kb", "walk", "!!!"])
    assert r.exit_code == 4
    assert r.stderr.startswith("error: no runbook found for '!!!'")


def test_eval_prints_both_accuracies() -> None:
    r = runner.invoke(app, ["kb", "eval"])
    assert r.exit_code == 0
    assert "top-1 accuracy" in r.stdout
    assert "top-3 accuracy" in r.stdout


def test_check_results_from_other_faces_are_adapted() -> None:
    class Report:
        status = "fail"
        detail = "PRN.COVER_OPEN"

    assert _adapt(Report()) == CheckOutcome(CheckResult.FAIL, "PRN.COVER_OPEN")
    assert _adapt((CheckResult.PASS, "ok")) == CheckOutcome(CheckResult.PASS, "ok")
    assert _adapt(object()).result is CheckResult.UNAVAILABLE


def test_walk_with_a_bad_terminal_config_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "terminal.yaml"
    bad.write_text("hosts: 12\n")
    r = runner.invoke(app, ["kb", "walk", "NET.DNS_FAILURE", "--config", str(bad)], input="1\n")
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: cannot use {bad}")
    assert r.stderr.count("\n") == 1


def test_empty_search_is_one_line_and_non_zero_in_chinese_by_default() -> None:
    no_lang = {"POSGUARD_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": None}
    r = runner.invoke(app, ["kb", "search", ""], env=no_lang)
    assert r.exit_code == 2
    assert r.stderr.startswith("错误：没有输入问题描述")
    assert r.stderr.count("\n") == 1
    assert "Traceback" not in r.output


def test_walk_an_unknown_code_suggests_near_ones() -> None:
    r = runner.invoke(app, ["kb", "walk", "prn.paper_otu"])
    assert r.exit_code == 4
    assert r.stderr.startswith(
        "error: unknown catalog code 'prn.paper_otu'; did you mean PRN.PAPER_OUT"
    )
    assert r.stderr.count("\n") == 1
    zh = runner.invoke(app, ["kb", "walk", "PRN.PAPER_OTU", "--lang", "zh"])
    assert zh.exit_code == 4
    assert "您要找的是不是 PRN.PAPER_OUT" in zh.stderr


def test_search_says_code_title_who_acts_and_the_next_command() -> None:
    r = runner.invoke(app, ["kb", "search", "小票打不出来", "--lang", "zh"], env={"COLUMNS": "120"})
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    first = next(line for line in lines if "PRN." in line)
    assert "PRN.PAPER_OUT" in first
    assert "打印机缺纸" in first
    assert "商户" in first
    assert "下一步：posguard kb walk PRN.PAPER_OUT" in r.stdout
    assert "字组" not in r.stdout  # the match internals are behind --explain


@pytest.mark.parametrize("columns", ["80", "120"])
def test_search_never_cuts_a_code(columns: str) -> None:
    r = runner.invoke(
        app, ["kb", "search", "余额不足 卡被拒 交易失败", "--limit", "8"], env={"COLUMNS": columns}
    )
    assert r.exit_code == 0
    assert "…" not in r.stdout
    assert "TXN.INSUFFICIENT_FUNDS" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= int(columns)


def test_walk_says_which_steps_a_machine_check_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PRN.PAPER_OUT: step 3 is answered by the printer.status check
    steps = default_catalog()["PRN.PAPER_OUT"].steps
    checked = next(i for i, s in enumerate(steps, start=1) if s.check == "printer.status")

    def runners(_config: object) -> dict[str, object]:
        return {"printer.status": lambda req: CheckOutcome(CheckResult.PASS, "printer ready")}

    monkeypatch.setattr("posguard.kb.cli.doctor_runners", runners)
    record = tmp_path / "r.json"
    answers = "2\n" * len(steps)
    r = runner.invoke(app, ["kb", "walk", "PRN.PAPER_OUT", "--record", str(record)], input=answers)
    assert r.exit_code == 3, r.output
    n = len(steps)
    assert (
        f"{checked}/{n} answered by machine check printer.status: pass (printer ready)" in r.stdout
    )
    data = json.loads(record.read_text())
    by_step = {s["step"]: s for s in data["steps"]}
    assert by_step[checked]["answered_by"] == "check"
    assert by_step[checked]["check_result"] == "pass"
    assert sorted(by_step) == list(range(1, n + 1))
    assert [c["step"] for c in data["checks"]] == [checked]


def test_an_unexpected_failure_is_one_line_and_debug_shows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> None:
        raise RuntimeError("index file vanished")

    monkeypatch.setattr("posguard.kb.cli.KnowledgeBase.default", broken)
    r = runner.invoke(app, ["kb", "search", "paper"])
    assert r.exit_code == 70
    assert r.stderr == (
        "error: internal error (RuntimeError: index file vanished). Run again with --debug and "
        "report the output.\n"
    )
    r = runner.invoke(app, ["kb", "search", "paper", "--debug"])
    assert isinstance(r.exception, RuntimeError)


def test_every_kb_command_takes_lang() -> None:
    for args in (["search", "paper"], ["eval"]):
        r = runner.invoke(app, ["kb", *args, "--lang", "zh"])
        assert r.exit_code == 0, (args, r.output)
        assert "accuracy" not in r.stdout
    r = runner.invoke(app, ["kb", "search", "paper", "--lang", "fr"])
    assert r.exit_code == 2
    assert r.stderr == "error: unknown language 'fr'; use zh or en\n"
