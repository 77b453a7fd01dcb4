"""Fee arithmetic, regulated caps, loaders and the provider comparison, on hand-worked cases."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from posguard.catalog import default_catalog
from posguard.merchant.errors import MerchantDataError
from posguard.merchant.fees.audit import audit_fees
from posguard.merchant.fees.caps import (
    FEE_CAP_EXCEEDED,
    check_caps,
    issuer_fee_cap,
    network_fee_cap,
)
from posguard.merchant.fees.compare import annualise, compare_providers
from posguard.merchant.fees.loader import load_transactions, parse_csv
from posguard.merchant.fees.model import CardType, Contract, Provider, Rate, SettledTransaction
from posguard.merchant.fees.money import percent_of, yuan_to_fen

CONTRACT = Contract.model_validate(
    {"merchant_id": "M1", "mcc": "5812", "monthly_fee": "10.00",
     "rates": {"debit": {"percent": "0.50", "cap": "20.00"}, "credit": {"percent": "0.55"}}}
)  # fmt: skip


def txn(i: int, amount: str, fee: str, **kw: object) -> SettledTransaction:
    return SettledTransaction.model_validate(
        {"txn_id": f"T{i}", "settled_on": "2026-11-01", "amount": amount, "fee": fee,
         "mcc": "5812", **kw}
    )  # fmt: skip


def test_half_up_per_transaction() -> None:
    assert percent_of(100, Decimal("0.5")) == 1  # 0.5 fen -> 1
    assert percent_of(99, Decimal("0.5")) == 0  # 0.495 fen -> 0
    assert percent_of(12345, Decimal("0.55")) == 68  # 67.8975 -> 68
    assert Rate(percent=Decimal("0.5"), cap="20").fee(yuan_to_fen("3999.99")) == 2000
    assert Rate(percent=Decimal("0.5"), cap="20").fee(yuan_to_fen("3990.00")) == 1995  # 19.95
    with pytest.raises(ValueError, match="more than 2 decimals"):
        yuan_to_fen("1.005")


def test_regulated_caps_by_hand() -> None:
    # debit 1,000 CNY: 0.35% = 3.50; 5,000 CNY: 17.50 -> capped at 13.00
    assert issuer_fee_cap(100_000, CardType.DEBIT) == 350
    assert issuer_fee_cap(500_000, CardType.DEBIT) == 1300
    # credit 5,000 CNY: 0.45% = 22.50, no cap
    assert issuer_fee_cap(500_000, CardType.CREDIT) == 2250
    # network 1,000 CNY: 0.0325% = 32.5 fen -> 33 (rounded up: generous); 20,000 CNY -> 3.25
    assert network_fee_cap(100_000) == 33
    assert network_fee_cap(2_000_000) == 325
    assert issuer_fee_cap(100_000, CardType.DEBIT, exempt=True) == 0


def test_cap_breaches_are_found_with_the_excess() -> None:
    txns = [
        txn(1, "5000.00", "20.00", issuer_fee="15.00", network_fee="1.63"),  # issuer +2.00
        txn(2, "5000.00", "20.00", issuer_fee="13.00", network_fee="3.00"),  # network cap 1.63
        txn(3, "1000.00", "5.50", card_type="credit", issuer_fee="4.50", network_fee="0.33"),
        txn(4, "1000.00", "25.00", international=True, issuer_fee="20.00"),  # not covered
    ]
    findings = check_caps(txns, contract_mcc="5812", subject="M1")
    assert [(f.kind, f.count, f.at_stake_fen) for f in findings] == [
        ("cap_exceeded", 1, 200),  # issuer fee, debit
        ("cap_exceeded", 1, 137),  # network fee, debit: 3.00 - 1.63
    ]
    assert "issuer fee" in findings[0].detail.en
    assert "网络服务费" in findings[1].title.zh
    assert [f.code for f in findings] == ["REG.FEE_CAP_EXCEEDED"] * 2


def test_audit_names_a_cap_breach_apart_from_a_contract_rate_change() -> None:
    assert FEE_CAP_EXCEEDED in default_catalog()
    txns = [
        # debit 5,000 CNY: contract 0.50% capped at 20.00 is honoured, but the issuer fee in
        # it (15.00) is above the regulated 13.00
        txn(1, "5000.00", "20.00", issuer_fee="15.00", network_fee="1.63"),
        # credit 1,000 CNY at 0.68% where the contract says 0.55%: a rate change, within caps
        txn(2, "1000.00", "6.80", card_type="credit", issuer_fee="4.50", network_fee="0.33"),
    ]
    got = [(f.code, f.kind, f.at_stake_fen) for f in audit_fees(txns, CONTRACT).findings]
    assert got == [
        ("REG.FEE_RATE_CHANGED", "rate_changed", 130),
        ("REG.FEE_CAP_EXCEEDED", "cap_exceeded", 200),
    ]


def test_non_profit_merchant_pays_no_issuer_fee() -> None:
    findings = check_caps(
        [txn(1, "100.00", "0.10", mcc="8062", issuer_fee="0.35")], contract_mcc="8062", subject="H"
    )
    assert findings[0].at_stake_fen == 35
    assert "non-profit" in findings[0].detail.en


def test_missing_class_falls_back_to_the_mcc_standard_rate() -> None:
    # contract has no QR rate; MCC 5812 is 'standard': QR 0.38% -> 100 CNY costs 0.38
    audit = audit_fees([txn(1, "100.00", "0.38", channel="qr")], CONTRACT)
    assert audit.findings == ()
    audit = audit_fees([txn(1, "100.00", "0.60", channel="qr")], CONTRACT)
    assert "MCC standard rate (0.38%)" in audit.findings[0].detail.en


def test_csv_loader_names_line_and_field(tmp_path: Path) -> None:
    header = "txn_id,settled_on,amount,fee,mcc,channel,card_type\n"
    good = "T1,2026-11-01,100.00,0.50,5812,card,debit\n"
    cases = {
        "T2,2026-11-31,100.00,0.50,5812,card,debit\n": "line 3: field 'settled_on'",
        "T2,2026-11-02,100.00,0.50,58120,card,debit\n": "line 3: field 'mcc'",
        "T2,2026-11-02,100.00,0.50,5812,card,gold\n": "line 3: field 'card_type'",
        "T2,2026-11-02,-5.00,0.50,5812,card,debit\n": "line 3: field 'amount'",
        "T1,2026-11-02,100.00,0.50,5812,card,debit\n": "line 3: field 'txn_id': 'T1' already",
    }
    for row, message in cases.items():
        with pytest.raises(MerchantDataError, match=message):
            parse_csv(header + good + row, source="m.csv")
    with pytest.raises(MerchantDataError, match="line 1: missing column"):
        parse_csv("txn_id,amount\n", source="m.csv")
    path = tmp_path / "m.json"
    path.write_text('[{"txn_id": "T1", "settled_on": "2026-11-01", "amount": "1", "mcc": "5812"}]')
    with pytest.raises(MerchantDataError, match=r"m\.json: entry 1: field 'fee'"):
        load_transactions(path)


def test_projection_and_provider_comparison_by_hand() -> None:
    txns = [
        txn(1, "10000.00", "20.00"),  # debit: contract 0.5% capped at 20
        SettledTransaction.model_validate(
            {
                "txn_id": "T2",
                "settled_on": "2026-11-30",
                "amount": "100.00",
                "fee": "0.55",
                "mcc": "5812",
                "card_type": "credit",
            }
        ),
    ]
    other = Provider.model_validate(
        {"id": "x", "name": {"zh": "X", "en": "X"}, "monthly_fee": "0",
         "rates": {"debit": {"percent": "0.45", "cap": "18.00"}, "credit": {"percent": "0.60"}}}
    )  # fmt: skip
    comp = compare_providers(txns, CONTRACT, [other])
    assert comp.days == 30
    rows = {r.id: r for r in comp.rows}
    # contract: 20.00 + 0.55 = 20.55 CNY over 30 days -> x 365/30 = 250.025 -> 250.03 CNY,
    # plus 12 x 10.00 monthly = 370.03 CNY a year
    assert rows["contract"].yearly_fen == 37003
    assert rows["charged"].yearly_fen == 37003
    # provider x: 18.00 + 0.60 = 18.60 -> x 365/30 = 226.30 CNY a year, no monthly fee
    assert rows["x"].yearly_fen == 22630
    assert comp.rows[0].id == "x"
    assert comp.saving_vs("contract") == 37003 - 22630
    assert annualise(2055, 30) == 25003


def test_absurd_amounts_are_refused_not_rounded() -> None:
    # the API fuzz hit a 500 before this bound: 1e32 fen overflows Decimal's 28 digits and
    # quantize raises InvalidOperation deep in the audit
    for value in ("1e30", 10**12):
        with pytest.raises(ValueError, match="beyond any single amount"):
            yuan_to_fen(value)
    for value in ("NaN", "Infinity", True):
        with pytest.raises(ValueError, match="amount"):
            yuan_to_fen(value)
    assert yuan_to_fen("10000000000.00") == 10**12
