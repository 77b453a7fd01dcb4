"""`posguard kb ...` through the root command, the way people and scripts call it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from posguard.catalog.checks import CheckResult
from posguard.cli import app
from posguard.kb.cli import _adapt
from posguard.kb.wizard import CheckOutcome

runner = CliRunner()


def test_search_json_is_a_ranked_list_of_code_and_score() -> None:
    r = runner.invoke(app, ["kb", "search", "小票打不出来 缺纸", "--json", "--limit", "3"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert isinstance(rows, list)
    assert 1 <= len(rows) <= 3
    assert rows[0]["code"] == "PRN.PAPER_OUT"
    assert [x["score"] for x in rows] == sorted((x["score"] for x in rows), reverse=True)


def test_search_json_empty_is_an_empty_list_with_the_reason_on_stderr() -> None:
    r = runner.invoke(app, ["kb", "search", "   ", "--json"])
    assert r.exit_code == 0
    assert json.loads(r.stdout) == []
    assert "empty query" in r.stderr


def test_search_table_in_english() -> None:
    r = runner.invoke(app, ["kb", "search", "error 96", "--lang", "en"])
    assert r.exit_code == 0
    assert "TXN.HOST_ERROR" in r.stdout
    assert "response code 96" in r.stdout


def test_search_prints_markup_safely() -> None:
    # Rich markup in a query must be printed as text, never interpreted (or crash on "[/]").
    r = runner.invoke(app, ["kb", "search", "[/] out of paper [bold]<script>"])
    assert r.exit_code == 0, r.output
    assert "PRN.PAPER_OUT" in r.stdout
    r = runner.invoke(app, ["kb", "search", "[/][/x] ###"])
    assert r.exit_code == 0, r.output
    assert "no results" in r.stdout


def test_walk_solved_on_the_second_step() -> None:
    r = runner.invoke(app, ["kb", "walk", "NET.DNS_FAILURE", "--lang", "en"], input="2\n1\n")
    assert r.exit_code == 0, r.output
    assert "1/" in r.stdout
    assert "2/" in r.stdout
    assert "Solved" in r.stdout


def test_walk_from_a_complaint_escalates_with_a_record() -> None:
    r = runner.invoke(app, ["kb", "walk", "打印机没纸了", "--terminal", "T7"], input="3\n4\n")
    assert r.exit_code == 3
    record = json.loads(r.stdout[r.stdout.index("{") :])
    assert record["code"] == "PRN.PAPER_OUT"
    assert record["terminal_id"] == "T7"
    assert [a["answer"] for a in record["answers"]] == ["cant", "escalate"]


def test_walk_with_input_ending_hands_over() -> None:
    r = runner.invoke(app, ["kb", "walk", "PRN.OFFLINE"], input="maybe\n")
    assert r.exit_code == 3
    assert "no answer (input ended)" in r.stdout


def test_walk_with_nothing_found() -> None:
    r = runner.invoke(app, ["kb", "walk", "!!!"])
    assert r.exit_code == 2


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
    assert "cannot use" in r.stderr
