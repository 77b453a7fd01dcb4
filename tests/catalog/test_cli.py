"""`posguard catalog list|show|validate` through the real top-level command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posguard.catalog import default_catalog
from posguard.cli import app

from .conftest import WriteCatalog, entry

# No language in the environment: the default, Chinese, applies unless --lang says otherwise.
runner = CliRunner(env={"POSGUARD_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": None})


def test_list_json_has_every_entry_with_its_fields() -> None:
    result = runner.invoke(app, ["catalog", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["code"] for r in rows] == list(default_catalog())
    for r in rows:
        assert {"code", "category", "severity", "title", "steps", "symptoms"} <= set(r)
        assert r["title"]["zh"]
        assert r["title"]["en"]
    paper = next(r for r in rows if r["code"] == "PRN.PAPER_OUT")
    assert paper["category"] == "hardware"
    assert paper["steps"][2]["check"] == "printer.status"
    mac = next(r for r in rows if r["code"] == "TXN.MAC_ERROR")
    assert mac["iso_response_codes"] == ["A0"]


def test_list_json_by_category() -> None:
    result = runner.invoke(app, ["catalog", "list", "--json", "--category", "network"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert rows
    assert {r["category"] for r in rows} == {"network"}
    assert "NET.READ_TIMEOUT" in {r["code"] for r in rows}


def test_list_unknown_category_is_a_clear_error() -> None:
    result = runner.invoke(app, ["catalog", "list", "--category", "nowhere", "--lang", "en"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: unknown category 'nowhere'")
    assert "hardware" in result.stderr


def test_list_table() -> None:
    result = runner.invoke(app, ["catalog", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "NET.DNS_FAILURE" in result.stdout
    assert "RECON.REVERSAL_PENDING" in result.stdout


def test_show_in_both_languages() -> None:
    zh = runner.invoke(app, ["catalog", "show", "prn.paper_out"])
    assert zh.exit_code == 0
    assert "PRN.PAPER_OUT  打印机缺纸" in zh.stdout
    assert "处理步骤" in zh.stdout
    assert "printer.status" in zh.stdout
    en = runner.invoke(app, ["catalog", "show", "TXN.ISSUER_UNAVAILABLE", "--lang", "en"])
    assert en.exit_code == 0
    assert "Card's bank temporarily unavailable" in en.stdout
    assert "Response codes: 68, 90, 91, 92, 98" in en.stdout
    first_step = default_catalog()["TXN.ISSUER_UNAVAILABLE"].steps[0].en
    assert f"1. {first_step}" in en.stdout


def test_show_json() -> None:
    result = runner.invoke(app, ["catalog", "show", "NET.READ_TIMEOUT", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["code"] == "NET.READ_TIMEOUT"


def test_show_unknown_code_suggests_a_near_one() -> None:
    result = runner.invoke(app, ["catalog", "show", "NET.READ_TIMOUT", "--lang", "en"])
    assert result.exit_code == 4
    assert result.stderr == (
        "error: unknown catalog code 'NET.READ_TIMOUT'; did you mean NET.READ_TIMEOUT?\n"
    )
    zh = runner.invoke(app, ["catalog", "show", "paper_out"])
    assert zh.exit_code == 4
    assert zh.stderr.startswith("错误：目录里没有代码 'paper_out'；您要找的是不是 PRN.PAPER_OUT")


def test_show_unknown_language() -> None:
    result = runner.invoke(app, ["catalog", "show", "PRN.PAPER_OUT", "--lang", "fr"])
    assert result.exit_code == 2
    assert result.stderr == "错误：不支持的语言 'fr'，请用 zh 或 en\n"
    en = runner.invoke(app, ["catalog", "show", "PRN.PAPER_OUT", "--lang", "fr"],
                       env={"LANG": "en_US.UTF-8"})  # fmt: skip
    assert en.stderr == "error: unknown language 'fr'; use zh or en\n"


def test_show_in_chinese_translates_every_label() -> None:
    result = runner.invoke(app, ["catalog", "show", "PRN.PAPER_OUT", "--lang", "zh"])
    assert result.exit_code == 0
    assert "硬件 · 轻微 · 需要处理的人: 商户" in result.stdout
    for english in ("hardware", "minor", "merchant"):
        assert english not in result.stdout
    assert "下一步: posguard kb walk PRN.PAPER_OUT" in result.stdout


@pytest.mark.parametrize("columns", [80, 120])
def test_list_table_never_cuts_a_code(columns: int) -> None:
    result = runner.invoke(app, ["catalog", "list"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0
    assert "…" not in result.stdout
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    cells = {c.strip() for line in lines for c in line.replace("┃", "│").split("│")}
    assert set(default_catalog()) <= cells
    assert "04 41 43 57 62" in cells or columns == 80  # response codes whole when shown


def test_every_catalog_command_takes_lang() -> None:
    for args in (["list"], ["list", "--json"], ["show", "PRN.OFFLINE"], ["validate"]):
        for lang in ("zh", "en"):
            result = runner.invoke(app, ["catalog", *args, "--lang", lang])
            assert result.exit_code == 0, (args, lang, result.output)
    en = runner.invoke(app, ["catalog", "list", "--lang", "en"], env={"COLUMNS": "120"})
    assert "Printer out of paper" in en.stdout
    zh = runner.invoke(app, ["catalog", "list"], env={"COLUMNS": "120"})
    assert "打印机缺纸" in zh.stdout


def test_validate_the_shipped_catalog() -> None:
    result = runner.invoke(app, ["catalog", "validate", "--lang", "en"])
    assert result.exit_code == 0
    n = len(default_catalog())
    files = len(
        list((Path(__file__).resolve().parents[2] / "src/posguard/catalog/data").glob("*.yaml"))
    )
    assert f"{n} entries in {files} files" in result.stdout
    assert result.stdout.startswith("OK ")


def test_validate_a_good_directory(write_catalog: WriteCatalog) -> None:
    d = write_catalog(printer=[entry()])
    result = runner.invoke(app, ["catalog", "validate", str(d), "--lang", "en"])
    assert result.exit_code == 0
    assert "1 entries in 1 files" in result.stdout


def test_validate_a_bad_directory_exits_1_naming_the_fault(write_catalog: WriteCatalog) -> None:
    d = write_catalog(printer=[entry(), entry(code="PRN.OTHER", severity="apocalyptic")])
    result = runner.invoke(app, ["catalog", "validate", str(d)])
    assert result.exit_code == 1
    assert "printer.yaml: entry 2 (PRN.OTHER): field 'severity'" in result.stderr
    assert result.stdout == ""


def test_validate_an_empty_directory(tmp_path: object) -> None:
    result = runner.invoke(app, ["catalog", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "no catalog files" in result.stderr


def test_docs_catalog_md_is_current() -> None:
    from pathlib import Path

    from posguard.catalog.cli import markdown_list

    doc = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"
    expected = markdown_list(default_catalog().entries())
    assert doc.read_text(encoding="utf-8") == expected, (
        "docs/catalog.md is stale: run `posguard catalog list --markdown > docs/catalog.md`"
    )
    result = runner.invoke(app, ["catalog", "list", "--markdown"])
    assert result.stdout == expected
