"""Onboarding checklist: what is missing or wrong, per document, in both languages."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from posguard.merchant.errors import MerchantDataError
from posguard.merchant.onboarding.application import Application, load_application
from posguard.merchant.onboarding.check import DocStatus, check_application
from posguard.merchant.onboarding.checklist import default_checklist

TODAY = date(2026, 11, 25)
PHOTOS = {
    k: {"files": [f"{k}.jpg"]} for k in ("photo_storefront", "photo_interior", "photo_checkout")
}


def _company(**overrides: Any) -> Application:
    docs: dict[str, Any] = {
        "business_licence": {
            "number": "91350100M000100Y43",
            "name": "福州示例餐饮有限公司",
            "long_term": True,
        },
        "legal_person_id": {
            "number": "11010519491231002X",
            "name": "张三",
            "expires": "2036-01-01",
        },
        "bank_account_proof": {"number": "6222021234567890123", "name": "福州示例餐饮有限公司"},
        **PHOTOS,
        "permit_food": {"number": "JY13501020000001", "expires": "2028-06-30"},
    }
    docs.update(overrides)
    return Application.model_validate(
        {"merchant_id": "M1", "merchant_type": "company", "industry": "food", "documents": docs}
    )


def _status(report: Any) -> dict[str, DocStatus]:
    return {r.kind: r.status for r in report.results}


def test_complete_company_application_passes() -> None:
    report = check_application(_company(), today=TODAY)
    assert report.complete, [(r.kind, r.problems) for r in report.problems()]
    assert set(_status(report)) == {
        "business_licence", "legal_person_id", "bank_account_proof",
        "photo_storefront", "photo_interior", "photo_checkout", "permit_food",
    }  # fmt: skip
    # tax registration is not asked for a combined (USCC) licence
    assert "tax_registration" not in _status(report)
    by_kind = {r.kind: r for r in report.results}
    assert by_kind["legal_person_id"].masked_number == "110105********002X"
    assert by_kind["bank_account_proof"].masked_number == "***************0123"


def test_missing_and_wrong_documents_are_listed_per_document() -> None:
    app = _company(
        legal_person_id={"number": "110105194912310021", "expires": "2036-01-01"},
        permit_food={"number": "SP3501020000001", "expires": "2026-10-01"},
        photo_checkout={"provided": False},
    )
    report = check_application(app, today=TODAY)
    status = _status(report)
    assert not report.complete
    assert status["legal_person_id"] is DocStatus.INVALID
    assert status["permit_food"] is DocStatus.INVALID  # wrong shape and expired
    assert status["photo_checkout"] is DocStatus.MISSING
    assert status["business_licence"] is DocStatus.OK
    by_kind = {r.kind: r for r in report.results}
    assert "check digit" in by_kind["legal_person_id"].problems[0].en
    assert "校验位" in by_kind["legal_person_id"].problems[0].zh
    food = [p.en for p in by_kind["permit_food"].problems]
    assert any("JY followed by 14 digits" in p for p in food)
    assert any("expired on 2026-10-01" in p for p in food)
    assert "收银台照" in by_kind["photo_checkout"].title.zh


def test_expiry_within_30_days_warns_but_does_not_block() -> None:
    app = _company(permit_food={"number": "JY13501020000001", "expires": "2026-12-20"})
    report = check_application(app, today=TODAY)
    permit = next(r for r in report.results if r.kind == "permit_food")
    assert permit.status is DocStatus.EXPIRING_SOON
    assert "in 25 days" in permit.problems[0].en
    assert report.complete


def test_expired_id_blocks_and_missing_expiry_is_asked_for() -> None:
    expired = check_application(
        _company(legal_person_id={"number": "11010519491231002X", "expires": "2026-11-24"}),
        today=TODAY,
    )
    assert _status(expired)["legal_person_id"] is DocStatus.EXPIRED
    no_date = check_application(
        _company(legal_person_id={"number": "11010519491231002X"}), today=TODAY
    )
    assert _status(no_date)["legal_person_id"] is DocStatus.INVALID
    long_term = check_application(
        _company(legal_person_id={"number": "11010519491231002X", "long_term": True}), today=TODAY
    )
    assert _status(long_term)["legal_person_id"] is DocStatus.OK


def test_individual_business_code_on_a_company_application_is_wrong() -> None:
    # 92...: a valid code of an individual business (check character computed by the rule)
    from posguard.merchant.onboarding.uscc import uscc_check_character

    code = "92350100MA2XYW123"
    code += uscc_check_character(code)
    report = check_application(_company(business_licence={"number": code}), today=TODAY)
    licence = next(r for r in report.results if r.kind == "business_licence")
    assert licence.status is DocStatus.INVALID
    assert "needs 91" in licence.problems[0].en


def test_old_style_licence_needs_a_separate_tax_registration() -> None:
    report = check_application(
        _company(business_licence={"number": "350100000012345", "long_term": True}), today=TODAY
    )
    assert _status(report)["tax_registration"] is DocStatus.MISSING


def test_account_held_by_someone_else_is_wrong() -> None:
    app = _company(bank_account_proof={"number": "6222021234567890123", "name": "李四"})
    report = check_application(app, today=TODAY)
    account = next(r for r in report.results if r.kind == "bank_account_proof")
    assert account.status is DocStatus.INVALID
    assert "account holder" in account.problems[-1].en


def test_checklist_covers_types_industries_and_photos() -> None:
    cl = default_checklist()
    indiv = [d.kind for d in cl.required("individual", "pharmacy")]
    assert indiv[-1] == "permit_pharmacy"
    assert {"photo_storefront", "photo_interior", "photo_checkout"} <= set(indiv)
    for spec in cl.documents.values():
        assert spec.title.zh
        assert spec.title.en
        assert spec.hint.zh
        assert spec.hint.en
    with pytest.raises(MerchantDataError, match="unknown industry 'casino'"):
        cl.required("company", "casino")


def test_bad_application_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text("merchant_type: company\ndocuments:\n  legal_person_id:\n    expires: soon\n")
    with pytest.raises(
        MerchantDataError, match=r"app.yaml: field 'documents.legal_person_id.expires'"
    ):
        load_application(path)


def test_a_photo_without_a_file_is_missing() -> None:
    report = check_application(_company(photo_interior={"provided": True}), today=TODAY)
    assert _status(report)["photo_interior"] is DocStatus.MISSING
