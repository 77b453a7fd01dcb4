"""HTTP routes of the merchant checks: an ``APIRouter`` the fleet app mounts.

Every route is a pure computation over the posted records (nothing is stored), so it
needs no database; results are JSON with money in fen and texts in zh/en. Personal data
posted to ``/onboarding/check`` comes back masked only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from posguard.merchant.brands import RankingRule, rank
from posguard.merchant.errors import MerchantDataError
from posguard.merchant.fees.audit import audit_fees
from posguard.merchant.fees.compare import compare_providers
from posguard.merchant.fees.loader import DEFAULT_PROVIDERS, load_providers
from posguard.merchant.fees.model import Contract, Provider, SettledTransaction
from posguard.merchant.fleet_records import FleetRecords, FleetTerminal
from posguard.merchant.onboarding.application import Application
from posguard.merchant.onboarding.check import check_application
from posguard.merchant.onboarding.checklist import default_checklist
from posguard.merchant.regulation import check_terminals, group_findings
from posguard.merchant.serialize import to_jsonable

router = APIRouter(prefix="/api/v1/merchant", tags=["merchant"])

MAX_TRANSACTIONS = 200_000
MAX_TERMINALS = 100_000
T = TypeVar("T")


def _guard(fn: Callable[[], T]) -> T:
    """Bad input inside a well-formed body becomes 422 naming what is wrong."""
    try:
        return fn()
    except MerchantDataError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeeAuditRequest(_Body):
    contract: Contract
    transactions: list[SettledTransaction] = Field(max_length=MAX_TRANSACTIONS)
    tolerance_fen: int = Field(default=0, ge=0, le=10_000)


class CompareRequest(_Body):
    contract: Contract
    transactions: list[SettledTransaction] = Field(min_length=1, max_length=MAX_TRANSACTIONS)
    providers: list[Provider] | None = Field(
        default=None, description="rate cards; the shipped sample cards when left out"
    )


class RankingRequest(_Body):
    records: FleetRecords
    as_of: date
    by_model: bool = False
    min_terminals: int = Field(default=10, ge=1)
    min_terminal_years: float = Field(default=5.0, ge=0)


class RegulationRequest(_Body):
    terminals: list[FleetTerminal] = Field(max_length=MAX_TERMINALS)
    as_of: date
    warn_days: int = Field(default=90, ge=0, le=3650)


@router.get("/onboarding/checklist")
def checklist(
    merchant_type: Annotated[str, Query(max_length=40)] = "company",
    industry: Annotated[str, Query(max_length=40)] = "general",
) -> dict[str, Any]:
    """The documents a merchant of this type and industry must hand in."""
    specs = _guard(lambda: default_checklist().required(merchant_type, industry))
    return {
        "merchant_type": merchant_type,
        "industry": industry,
        "documents": [s.model_dump(mode="json") for s in specs],
    }


@router.post("/onboarding/check")
def onboarding_check(
    application: Application, as_of: Annotated[date | None, Query()] = None
) -> dict[str, Any]:
    """What is missing or wrong in an application, per document (numbers masked)."""
    report = _guard(lambda: check_application(application, today=as_of))
    out: dict[str, Any] = to_jsonable(report)
    return out


@router.post("/fees/audit")
def fees_audit(body: FeeAuditRequest) -> dict[str, Any]:
    """Re-price settled transactions under the contract: REG.FEE_RATE_CHANGED findings (rate
    changes, foreign MCC) and REG.FEE_CAP_EXCEEDED findings (above the 2016 caps)."""
    audit = _guard(
        lambda: audit_fees(body.transactions, body.contract, tolerance_fen=body.tolerance_fen)
    )
    out: dict[str, Any] = to_jsonable(audit)
    return out


@router.post("/fees/compare")
def fees_compare(body: CompareRequest) -> dict[str, Any]:
    """The merchant's transactions priced under each provider's rate card, cheapest first."""

    def run() -> Any:
        providers = (
            body.providers if body.providers is not None else load_providers(DEFAULT_PROVIDERS)
        )
        return compare_providers(body.transactions, body.contract, providers)

    out: dict[str, Any] = to_jsonable(_guard(run))
    return out


@router.post("/brands/ranking")
def brands_ranking(body: RankingRequest) -> dict[str, Any]:
    """Failures per terminal-year, MTTR, remote share, warranty; ranked with a minimum sample."""
    rule = RankingRule(min_terminals=body.min_terminals, min_terminal_years=body.min_terminal_years)
    result = rank(body.records, as_of=body.as_of, by_model=body.by_model, rule=rule)
    out: dict[str, Any] = to_jsonable(result)
    return out


@router.post("/regulation/check")
def regulation_check(body: RegulationRequest) -> dict[str, Any]:
    """REG.MODEL_NOT_PERMITTED / REG.CERTIFICATE_EXPIRED per terminal, and grouped per model."""
    report = check_terminals(body.terminals, as_of=body.as_of, warn_days=body.warn_days)
    out: dict[str, Any] = to_jsonable(report)
    out["groups"] = [
        {"finding": to_jsonable(g.first), "terminal_ids": list(g.terminal_ids)}
        for g in group_findings(report.findings)
    ]
    return out
