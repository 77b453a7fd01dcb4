"""`posguard merchant ...` on the shipped examples: output, JSON and exit status."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posguard.catalog import default_catalog
from posguard.cli import app
from posguard.merchant.cli import SAMPLES
from posguard.merchant.fees.caps import FEE_CAP_EXCEEDED
from posguard.merchant.findings import CERTIFICATE_EXPIRED, FEE_RATE_CHANGED, MODEL_NOT_PERMITTED

EX = Path(__file__).resolve().parents[2] / "src/posguard/merchant/data/examples"
runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    """Exit code and what the command printed: stdout only for ``--json`` (a log line on
    stderr, such as a warning another test's logging set-up lets through, is not the answer),
    stdout and stderr together otherwise."""
    result = runner.invoke(app, ["merchant", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_codes_used_are_in_the_catalog() -> None:
    catalog = default_catalog()
    for code in (FEE_RATE_CHANGED, FEE_CAP_EXCEEDED, MODEL_NOT_PERMITTED, CERTIFICATE_EXPIRED):
        assert code in catalog


def test_check_docs_lists_the_problems_and_exits_1() -> None:
    code, out = run("check-docs", str(EX / "application_company_food.yaml"), "--as-of",
                    "2026-11-25", "--lang", "en")  # fmt: skip
    assert code == 1
    assert "check digit does not match" in out
    assert "expires on 2026-12-10 (in 15 days)" in out
    assert "110105********0021" in out
    assert "110105194912310021" not in out
    code, out = run("check-docs", str(EX / "application_individual.yaml"), "--as-of",
                    "2026-11-25", "--json")  # fmt: skip
    assert code == 0
    assert json.loads(out)["complete"] is True


def test_fees_finds_both_planted_faults() -> None:
    code, out = run("fees", str(EX / "transactions_2026-11.csv"), "--contract",
                    str(EX / "contract.yaml"), "--json")  # fmt: skip
    assert code == 1
    audit = json.loads(out)
    kinds = {f["kind"]: f for f in audit["findings"]}
    assert sorted(kinds) == ["mcc_changed", "rate_changed"]
    assert kinds["rate_changed"]["since"] == "2026-11-16"
    assert audit["overcharged_fen"] == sum(f["at_stake_fen"] for f in audit["findings"])
    code, out = run("fees", str(EX / "transactions_2026-11.csv"), "--contract",
                    str(EX / "contract.yaml"), "--lang", "en")  # fmt: skip
    assert "(Hotels and lodging)" in out
    assert "projected per year" in out


def test_compare_providers_ranks_cards() -> None:
    code, out = run("compare-providers", str(EX / "transactions_2026-11.csv"), "--contract",
                    str(EX / "contract.yaml"), "--json")  # fmt: skip
    assert code == 0
    rows = json.loads(out)["rows"]
    yearly = [r["yearly_fen"] for r in rows]
    assert yearly == sorted(yearly)
    assert {"contract", "charged", "bank-a", "psp-b", "psp-c"} == {r["id"] for r in rows}


def test_brands_and_regulation_on_the_sample_fleet() -> None:
    code, out = run("brands", str(EX / "fleet.json"), "--as-of", "2026-11-25", "--json")
    assert code == 0
    ranking = json.loads(out)
    assert [s["brand"] for s in ranking["insufficient"]] == ["Kestrel"]  # 2 terminals
    assert [s["rank"] for s in ranking["ranked"]] == [1, 2, 3]
    code, out = run("regulation", str(EX / "fleet.json"), "--as-of", "2026-11-25", "--lang", "en")
    assert code == 1
    assert "REG.MODEL_NOT_PERMITTED" in out
    assert "T0051" in out  # unknown model listed


def test_bad_input_exits_2_with_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "t.csv"
    bad.write_text("txn_id,settled_on,amount,fee,mcc\nT1,2026-11-01,abc,0.1,5812\n")
    code, out = run("fees", str(bad), "--contract", str(EX / "contract.yaml"))
    assert code == 2
    assert "t.csv: line 2: field 'amount'" in out
    code, out = run("brands", str(tmp_path / "missing.json"), "--lang", "en")
    assert code == 2
    assert out == f"error: no such file: {tmp_path / 'missing.json'}\n"
    code, out = run("brands", str(tmp_path / "missing.json"), "--lang", "zh")
    assert out == f"错误：找不到文件：{tmp_path / 'missing.json'}\n"


def test_shipped_examples_are_reproducible() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import make_examples
    finally:
        sys.path.pop(0)
    assert (EX / "transactions_2026-11.csv").read_text() == make_examples.transactions_csv()
    assert (EX / "fleet.json").read_text() == make_examples.fleet_json()


def test_check_docs_can_save_the_sealed_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from posguard.merchant.onboarding.privacy import get_settings

    out_file = tmp_path / "sealed.json"
    monkeypatch.delenv("POSGUARD_MERCHANT_DATA_KEY", raising=False)
    get_settings.cache_clear()
    code, out = run("check-docs", str(EX / "application_individual.yaml"), "--save", str(out_file))
    assert code == 2
    assert "POSGUARD_MERCHANT_DATA_KEY" in out
    assert not out_file.exists()
    monkeypatch.setenv("POSGUARD_MERCHANT_DATA_KEY", base64.b64encode(os.urandom(32)).decode())
    get_settings.cache_clear()
    try:
        code, _ = run("check-docs", str(EX / "application_individual.yaml"), "--as-of",
                      "2026-11-25", "--save", str(out_file))  # fmt: skip
    finally:
        get_settings.cache_clear()
    assert code == 0
    stored = out_file.read_text()
    assert "440524188001010014" not in stored
    assert "440524********0014" in stored
    assert "pgm1:" in stored


EN = {"POSGUARD_LANG": "en"}
THOUSANDS = re.compile(r"\b\d{1,3}(,\d{3})+\.\d{2}\b")


def run_at(columns: int, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["merchant", *args], env={"COLUMNS": str(columns), **EN})
    return result.exit_code, result.output


def test_samples_writes_every_input_and_the_commands_run_on_them(tmp_path: Path) -> None:
    d = tmp_path / "samples"
    code, out = run_at(120, "samples", str(d))
    assert code == 0, out
    names = sorted(p.name for p in d.iterdir())
    assert names == sorted(SAMPLES)
    for name in names:
        assert (d / name).read_bytes() == (EX / name).read_bytes()
    assert f"posguard merchant fees {d / 'transactions_2026-11.csv'}" in out
    code, _ = run_at(120, "fees", str(d / "transactions_2026-11.csv"), "--contract",
                     str(d / "contract.yaml"))  # fmt: skip
    assert code == 1  # the planted findings
    code, out = run_at(120, "samples", str(d))
    assert code == 2
    assert out.startswith("error: ")
    assert "already exists; use --force" in out
    assert out.count("\n") == 1
    code, _ = run_at(120, "samples", str(d), "--force")
    assert code == 0


@pytest.mark.parametrize(
    ("command", "sample"),
    [
        ("check-docs", "application_individual.yaml"),
        ("fees", "transactions_2026-11.csv"),
        ("compare-providers", "contract.yaml"),
        ("brands", "fleet.json"),
        ("regulation", "fleet.json"),
    ],
)
def test_help_names_the_sample_inputs(command: str, sample: str) -> None:
    result = runner.invoke(app, ["merchant", command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert sample in result.output
    assert "posguard merchant samples" in result.output


def test_every_merchant_command_takes_lang(tmp_path: Path) -> None:
    fleet, txns, contract = (
        str(EX / "fleet.json"),
        str(EX / "transactions_2026-11.csv"),
        str(EX / "contract.yaml"),
    )
    for args in (
        ["check-docs", str(EX / "application_individual.yaml")],
        ["fees", txns, "--contract", contract],
        ["compare-providers", txns, "--contract", contract],
        ["brands", fleet],
        ["regulation", fleet],
        ["samples", str(tmp_path / "s"), "--force"],
    ):
        for lang in ("zh", "en"):
            result = runner.invoke(app, ["merchant", *args, "--lang", lang])
            assert result.exit_code in (0, 1), (args, lang, result.output)


def test_amounts_have_thousands_separators() -> None:
    code, out = run_at(120, "compare-providers", str(EX / "transactions_2026-11.csv"),
                       "--contract", str(EX / "contract.yaml"))  # fmt: skip
    assert code == 0
    assert re.search(r"^1,072 transactions, " + THOUSANDS.pattern + " CNY$", out, re.M), out
    code, out = run_at(120, "fees", str(EX / "transactions_2026-11.csv"),
                       "--contract", str(EX / "contract.yaml"))  # fmt: skip
    assert THOUSANDS.search(out), out


def test_compare_says_plainly_when_the_contract_is_already_the_cheapest(tmp_path: Path) -> None:
    cheap = tmp_path / "contract.yaml"
    cheap.write_text(
        (EX / "contract.yaml")
        .read_text(encoding="utf-8")
        .replace('"0.50", cap: "20.00"', '"0.01", cap: "1.00"')
        .replace('"0.55"', '"0.01"')
        .replace('"0.38"', '"0.01"')
        .replace('"2.50"', '"0.01"'),
        encoding="utf-8",
    )
    code, out = run_at(120, "compare-providers", str(EX / "transactions_2026-11.csv"),
                       "--contract", str(cheap))  # fmt: skip
    assert code == 0
    assert "your current contract is already the cheapest" in out
    assert "0.00 CNY" not in out
    dear = tmp_path / "dear.yaml"
    dear.write_text(
        (EX / "contract.yaml").read_text(encoding="utf-8").replace('"0.55"', '"0.90"'),
        encoding="utf-8",
    )
    code, out = run_at(120, "compare-providers", str(EX / "transactions_2026-11.csv"),
                       "--contract", str(dear))  # fmt: skip
    assert re.search(
        r"^cheapest: Example PSP B, " + THOUSANDS.pattern + " CNY a year less than your "
        "current contract$",
        out,
        re.M,
    ), out


def test_labels_are_translated() -> None:
    code, out = run_at(200, "regulation", str(EX / "fleet.json"), "--as-of", "2026-11-25")
    assert code == 1
    assert "PCI PTS approval of" in out
    assert "Pci pts" not in out
    _, out = run_at(200, "check-docs", str(EX / "application_company_food.yaml"),
                       "--as-of", "2026-11-25")  # fmt: skip
    assert "expiring soon" in out
    assert "expiring_soon" not in out
    zh = runner.invoke(app, ["merchant", "compare-providers", str(EX / "transactions_2026-11.csv"),
                             "--contract", str(EX / "contract.yaml"), "--lang", "zh"],
                       env={"COLUMNS": "200"})  # fmt: skip
    assert "费率方案" in zh.output
    assert "per year" not in zh.output
    assert "rate card" not in zh.output


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize(
    "args",
    [
        ("regulation", "fleet.json", "--as-of", "2026-11-25"),
        ("brands", "fleet.json", "--as-of", "2026-11-25"),
        ("fees", "transactions_2026-11.csv", "--contract", "contract.yaml"),
        ("compare-providers", "transactions_2026-11.csv", "--contract", "contract.yaml"),
        ("check-docs", "application_company_food.yaml", "--as-of", "2026-11-25"),
    ],
)
def test_tables_fit_and_never_cut(columns: int, args: tuple[str, ...]) -> None:
    argv = [str(EX / a) if a.endswith((".json", ".yaml", ".csv")) else a for a in args]
    for lang in ("en", "zh"):
        result = runner.invoke(
            app, ["merchant", *argv, "--lang", lang], env={"COLUMNS": str(columns)}
        )
        assert result.exit_code in (0, 1), result.output
        assert "…" not in result.output
        # codes, terminal IDs, dates and amounts appear whole
        for token in re.findall(r"REG\.[A-Z_]+|T\d{4}\b|\d{4}-\d{2}-\d{2}", result.output):
            assert token in result.output
        if args[0] == "regulation":
            assert "REG.MODEL_NOT_PERMITTED" in result.output
            assert "REG.CERTIFICATE_EXPIRED" in result.output
        if args[0] == "fees":
            assert "REG.FEE_RATE_CHANGED" in result.output
