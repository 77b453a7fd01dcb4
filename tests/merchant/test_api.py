"""The merchant router over HTTP (mounted on a bare FastAPI app, as the fleet mounts it)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from posguard.merchant.api import router
from posguard.merchant.fees.model import Contract, Rate, RateClass
from posguard.merchant.fees.synthetic import MccSwitch, RateRise, generate_month

EX = Path(__file__).resolve().parents[2] / "src/posguard/merchant/data/examples"
BASE = "/api/v1/merchant"


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


def test_checklist(client: TestClient) -> None:
    r = client.get(f"{BASE}/onboarding/checklist", params={"merchant_type": "individual",
                                                           "industry": "tobacco"})  # fmt: skip
    assert r.status_code == 200
    kinds = [d["kind"] for d in r.json()["documents"]]
    assert kinds[-1] == "permit_tobacco"
    r = client.get(f"{BASE}/onboarding/checklist", params={"merchant_type": "alien"})
    assert r.status_code == 422
    assert "unknown merchant type 'alien'" in r.json()["detail"]


def test_onboarding_check_returns_masked_numbers_only(client: TestClient) -> None:
    body = {
        "merchant_type": "individual",
        "documents": {
            "legal_person_id": {"number": "11010519491231002X", "name": "王小明",
                                "long_term": True},
            "bank_account_proof": {"number": "6222021234567890125", "name": "王小明"},
        },
    }  # fmt: skip
    r = client.post(f"{BASE}/onboarding/check", json=body, params={"as_of": "2026-11-25"})
    assert r.status_code == 200
    text = r.text
    assert "11010519491231002X" not in text
    assert "6222021234567890125" not in text
    assert "王小明" not in text
    data = r.json()
    assert data["complete"] is False
    by_kind = {d["kind"]: d for d in data["results"]}
    assert by_kind["business_licence"]["status"] == "missing"
    assert by_kind["legal_person_id"]["masked_number"] == "110105********002X"


def test_fee_audit_and_compare(client: TestClient) -> None:
    contract = Contract.model_validate(
        {"merchant_id": "M1", "mcc": "5812",
         "rates": {"debit": {"percent": "0.5", "cap": "20"}, "credit": {"percent": "0.55"},
                   "qr": {"percent": "0.38"}, "international": {"percent": "2.5"}}}
    )  # fmt: skip
    month = generate_month(
        contract, year=2026, month=2, seed=3, per_day=(10, 15),
        rate_rise=RateRise(RateClass.DEBIT, date(2026, 2, 10), Rate(percent=Decimal("0.6"))),
        mcc_switch=MccSwitch("5999", date(2026, 2, 1), date(2026, 2, 3), share=0.5),
    )  # fmt: skip
    body: dict[str, Any] = {
        "contract": contract.model_dump(mode="json"),
        "transactions": [t.model_dump(mode="json") for t in month],
    }
    r = client.post(f"{BASE}/fees/audit", json=body)
    assert r.status_code == 200
    kinds = sorted(f["kind"] for f in r.json()["findings"])
    assert kinds == ["mcc_changed", "rate_changed"]
    r = client.post(f"{BASE}/fees/compare", json=body)
    assert r.status_code == 200
    assert r.json()["rows"][0]["yearly_fen"] <= r.json()["rows"][-1]["yearly_fen"]
    r = client.post(f"{BASE}/fees/compare", json={**body, "transactions": []})
    assert r.status_code == 422
    bad = {**body, "transactions": [{**body["transactions"][0], "amount": "1.001"}]}
    r = client.post(f"{BASE}/fees/audit", json=bad)
    assert r.status_code == 422
    assert "more than 2 decimals" in r.text


def test_brands_and_regulation(client: TestClient) -> None:
    records = json.loads((EX / "fleet.json").read_text())
    r = client.post(f"{BASE}/brands/ranking", json={"records": records, "as_of": "2026-11-25"})
    assert r.status_code == 200
    assert [s["brand"] for s in r.json()["insufficient"]] == ["Kestrel"]
    r = client.post(
        f"{BASE}/regulation/check", json={"terminals": records["terminals"], "as_of": "2026-11-25"}
    )
    assert r.status_code == 200
    groups = r.json()["groups"]
    assert groups[0]["finding"]["code"] == "REG.MODEL_NOT_PERMITTED"
    assert groups[0]["terminal_ids"] == ["T0034", "T0035", "T0036"]
    r = client.post(f"{BASE}/brands/ranking", json={"records": {"terminals": []}})
    assert r.status_code == 422
