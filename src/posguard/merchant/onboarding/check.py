"""Check an application against the checklist: what is missing or wrong, per document.

The result carries only masked identifiers; nothing here logs a clear value.

>>> from posguard.merchant.onboarding.application import Application
>>> app = Application.model_validate({"merchant_type": "company", "documents": {
...     "business_licence": {"number": "91350100M000100Y43", "long_term": True}}})
>>> report = check_application(app, today=date(2026, 11, 25))
>>> report.complete
False
>>> [(r.kind, r.status.value) for r in report.results][:3]
[('business_licence', 'ok'), ('legal_person_id', 'missing'), ('bank_account_proof', 'missing')]
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from posguard.merchant.onboarding.application import Application, SubmittedDocument
from posguard.merchant.onboarding.checklist import (
    Checklist,
    Condition,
    DocumentSpec,
    ExpiryRule,
    Identifier,
    default_checklist,
)
from posguard.merchant.onboarding.privacy import mask_account, mask_id_number
from posguard.merchant.onboarding.resident_id import IdProblem, check_resident_id
from posguard.merchant.onboarding.uscc import UsccProblem, check_uscc
from posguard.merchant.text import Text, t

log = logging.getLogger(__name__)

EXPIRY_WARNING = timedelta(days=30)
_OLD_REG_NUMBER = re.compile(r"^[0-9]{15}$")
_ACCOUNT = re.compile(r"^[0-9]{8,30}$")


class DocStatus(StrEnum):
    OK = "ok"
    EXPIRING_SOON = "expiring_soon"  # valid, but ends within 30 days: a warning
    MISSING = "missing"
    INVALID = "invalid"
    EXPIRED = "expired"

    @property
    def blocking(self) -> bool:
        return self not in (DocStatus.OK, DocStatus.EXPIRING_SOON)


@dataclass(frozen=True, slots=True)
class DocumentResult:
    kind: str
    title: Text
    status: DocStatus
    problems: tuple[Text, ...] = ()
    masked_number: str | None = None
    expires: date | None = None


@dataclass(frozen=True, slots=True)
class OnboardingReport:
    merchant_id: str | None
    merchant_type: str
    industry: str
    checked_on: date
    results: tuple[DocumentResult, ...]
    unexpected: tuple[str, ...] = field(default=())

    @property
    def complete(self) -> bool:
        """True when nothing blocks onboarding (warnings may remain)."""
        return not any(r.status.blocking for r in self.results)

    def problems(self) -> list[DocumentResult]:
        return [r for r in self.results if r.status is not DocStatus.OK]


_USCC_TEXT: dict[UsccProblem, Text] = {
    UsccProblem.LENGTH: t("统一社会信用代码应为18位", "the credit code must have 18 characters"),
    UsccProblem.CHARSET: t(
        "统一社会信用代码含有不允许的字符（不使用I、O、S、V、Z，字母须大写）",
        "the credit code has a character that is not allowed (no I, O, S, V, Z; capitals only)",
    ),
    UsccProblem.AUTHORITY: t(
        "统一社会信用代码前两位（登记管理部门和机构类别）不存在",
        "the first two characters (registering authority, entity type) do not exist",
    ),
    UsccProblem.REGION: t(
        "统一社会信用代码第3-8位（行政区划码）应为数字",
        "characters 3-8 (region code) of the credit code must be digits",
    ),
    UsccProblem.CHECK_CHARACTER: t(
        "统一社会信用代码校验位不符，可能有字符抄错",
        "the credit code's check character does not match: a character was probably mistyped",
    ),
}

_ID_TEXT: dict[IdProblem, Text] = {
    IdProblem.LENGTH: t("身份证号码应为18位", "the ID number must have 18 characters"),
    IdProblem.CHARSET: t(
        "身份证号码只能是数字，最后一位可以是大写X",
        "the ID number must be digits, with a capital X allowed only as the last character",
    ),
    IdProblem.REGION: t(
        "身份证号码的地址码不正确", "the region code of the ID number is not valid"
    ),
    IdProblem.BIRTH_DATE: t(
        "身份证号码中的出生日期不存在", "the birth date inside the ID number is not a real date"
    ),
    IdProblem.CHECK_DIGIT: t(
        "身份证号码校验位不符，可能有数字抄错",
        "the ID number's check digit does not match: a digit was probably mistyped",
    ),
}


def _missing(spec: DocumentSpec) -> DocumentResult:
    return DocumentResult(
        spec.kind,
        spec.title,
        DocStatus.MISSING,
        (t(f"缺少：{spec.hint.zh}", f"missing: {spec.hint.en}"),),
    )


def _adult(born: date, today: date) -> bool:
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years >= 18


def _check_identifier(
    spec: DocumentSpec, doc: SubmittedDocument, app: Application, checklist: Checklist, today: date
) -> tuple[list[Text], str | None]:
    problems: list[Text] = []
    if doc.number is None:
        if spec.identifier is not None or spec.number_pattern is not None:
            problems.append(t("未填写证件号码", "the document number is not filled in"))
        return problems, None
    number = doc.number.get_secret_value().strip()
    if spec.identifier is Identifier.USCC:
        if _OLD_REG_NUMBER.match(number):
            return problems, number  # old-style licence: accepted, tax registration then due
        result = check_uscc(number)
        if not result.valid and result.problem is not None:
            problems.append(_USCC_TEXT[result.problem])
        else:
            prefix = checklist.merchant_types[app.merchant_type].uscc_prefix
            if not number.startswith(prefix):
                problems.append(
                    t(
                        f"信用代码前两位为{number[:2]}，与所选商户类型（应为{prefix}）不符",
                        f"the credit code starts with {number[:2]}, but this merchant type "
                        f"needs {prefix}",
                    )
                )
        return problems, number
    if spec.identifier is Identifier.RESIDENT_ID:
        idr = check_resident_id(number, today=today)
        if not idr.valid and idr.problem is not None:
            problems.append(_ID_TEXT[idr.problem])
        elif idr.birth_date is not None and not _adult(idr.birth_date, today):
            problems.append(
                t("证件持有人未满18周岁，不能作为经营者", "the holder is under 18 and cannot sign")
            )
        return problems, mask_id_number(number)
    if spec.identifier is Identifier.BANK_ACCOUNT:
        digits = number.replace(" ", "")
        if not _ACCOUNT.match(digits):
            problems.append(t("银行账号应为8-30位数字", "the bank account must be 8-30 digits"))
        return problems, mask_account(digits)
    if spec.number_pattern and not re.match(spec.number_pattern, number):
        hint = spec.number_hint or t("编号格式不对", "the number has the wrong shape")
        problems.append(t(f"证件编号格式不对：{hint.zh}", f"wrong number format: {hint.en}"))
    return problems, number


def _check_expiry(
    spec: DocumentSpec, doc: SubmittedDocument, today: date
) -> tuple[DocStatus | None, list[Text]]:
    rule = spec.expiry
    if rule is ExpiryRule.NONE:
        return None, []
    if doc.expires is None:
        if doc.long_term and rule is not ExpiryRule.REQUIRED:
            return None, []
        if rule is ExpiryRule.OPTIONAL_OR_LONG_TERM:
            return None, []
        allowed = "，或勾选长期" if rule is ExpiryRule.REQUIRED_OR_LONG_TERM else ""
        allowed_en = " or tick long-term" if rule is ExpiryRule.REQUIRED_OR_LONG_TERM else ""
        return DocStatus.INVALID, [
            t(f"未填写有效期截止日{allowed}", f"the expiry date is missing: fill it in{allowed_en}")
        ]
    if doc.expires < today:
        return DocStatus.EXPIRED, [
            t(
                f"已于{doc.expires.isoformat()}过期，请提供更新后的证件",
                f"expired on {doc.expires.isoformat()}: provide the renewed document",
            )
        ]
    if doc.expires - today <= EXPIRY_WARNING:
        days = (doc.expires - today).days
        return DocStatus.EXPIRING_SOON, [
            t(
                f"将于{doc.expires.isoformat()}到期（剩{days}天），请尽快办理更新",
                f"expires on {doc.expires.isoformat()} (in {days} days): renew it soon",
            )
        ]
    return None, []


def _names_consistent(app: Application) -> bool | None:
    """Is the settlement account held by the right party? None when names are absent."""
    docs = app.documents
    account = docs.get("bank_account_proof")
    if account is None or account.name is None:
        return None
    holder = account.name.get_secret_value().strip()
    allowed: set[str] = set()
    licence = docs.get("business_licence")
    if licence is not None and licence.name is not None:
        allowed.add(licence.name.get_secret_value().strip())
    person = docs.get("legal_person_id")
    if app.merchant_type == "individual" and person is not None and person.name is not None:
        allowed.add(person.name.get_secret_value().strip())
    if not allowed:
        return None
    return holder in allowed


def check_application(
    app: Application, *, today: date | None = None, checklist: Checklist | None = None
) -> OnboardingReport:
    """Check every required document: presence, identifier rules, expiry, account holder."""
    checklist = checklist or default_checklist()
    today = today or date.today()
    specs = checklist.required(app.merchant_type, app.industry)
    licence = app.documents.get("business_licence")
    licence_number = licence.number.get_secret_value().strip() if licence and licence.number else ""
    results: list[DocumentResult] = []
    for spec in specs:
        doc = app.documents.get(spec.kind)
        if spec.required_when is Condition.LICENCE_WITHOUT_USCC and not _OLD_REG_NUMBER.match(
            licence_number
        ):
            continue
        if doc is None or not doc.provided or (spec.files_required and not doc.files):
            results.append(_missing(spec))
            continue
        problems, shown = _check_identifier(spec, doc, app, checklist, today)
        status = DocStatus.INVALID if problems else DocStatus.OK
        expiry_status, expiry_problems = _check_expiry(spec, doc, today)
        problems.extend(expiry_problems)
        if expiry_status is not None and (status is DocStatus.OK or expiry_status.blocking):
            status = expiry_status if status is DocStatus.OK else status
        if spec.kind == "bank_account_proof" and _names_consistent(app) is False:
            status = DocStatus.INVALID
            problems.append(
                t(
                    "结算账户户名与营业执照名称/经营者姓名不一致",
                    "the account holder is not the licensed business or its operator",
                )
            )
        results.append(
            DocumentResult(spec.kind, spec.title, status, tuple(problems), shown, doc.expires)
        )
    known = {s.kind for s in specs}
    unexpected = tuple(sorted(k for k in app.documents if k not in known))
    report = OnboardingReport(
        app.merchant_id, app.merchant_type, app.industry, today, tuple(results), unexpected
    )
    log.info(
        "onboarding_checked merchant_id=%s merchant_type=%s complete=%s problems=%s",
        app.merchant_id,
        app.merchant_type,
        report.complete,
        ",".join(r.kind for r in report.problems()),
    )
    return report
