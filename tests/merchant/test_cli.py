"""`posguard merchant ...` on the shipped examples: output, JSON and exit status."""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posguard.catalog import default_catalog
from posguard.cli import app
from posguard.merchant.fees.caps import FEE_CAP_EXCEEDED
from posguard.merchant.findings import CERTIFICATE_EXPIRED, FEE_RATE_CHANGED, MODEL_NOT_PERMITTED

EX = Path(__file__).resolve().parents[2] / "src/posguard/merchant/data/examples"
runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["merchant", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


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
    code, out = run("brands", str(tmp_path / "missing.json"))
    assert code == 2
    assert "cannot read" in out


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
