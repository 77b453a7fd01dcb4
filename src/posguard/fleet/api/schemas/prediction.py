"""Predictive-maintenance schemas: the visit list, a terminal's risk and its evidence, visits."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from posguard.fleet.prediction.explain import reasons
from posguard.fleet.prediction.score import Evidence
from posguard.fleet.prediction.visit_list import Prediction


class ReasonPublic(BaseModel):
    term: str
    weight: float
    zh: str
    en: str


class EvidencePublic(BaseModel):
    component: str
    risk: float
    baseline_rate: float
    recent_rate: float
    slope_per_day: float
    cusum_peak: float
    change_day: date | None
    incidents: int
    terms: dict[str, float]
    reasons: list[ReasonPublic]

    @classmethod
    def of(cls, ev: Evidence) -> EvidencePublic:
        return cls(
            component=ev.component,
            risk=ev.risk,
            baseline_rate=round(ev.baseline_rate, 6),
            recent_rate=round(ev.recent_rate, 6),
            slope_per_day=round(ev.slope_per_day, 6),
            cusum_peak=ev.cusum.peak,
            change_day=ev.change_day,
            incidents=ev.incidents,
            terms=dict(ev.terms),
            reasons=[
                ReasonPublic(term=r.term, weight=r.weight, zh=r.text.zh, en=r.text.en)
                for r in reasons(ev)
            ],
        )


class PredictionPublic(BaseModel):
    terminal_id: str
    merchant_id: str
    area: str
    model: str
    risk: float | None = Field(description="0-1; null: the terminal sends no wear counters")
    component: str | None
    due: bool = Field(description="on the visit-before-it-fails list now")
    last_visit: datetime | None
    evidence: list[EvidencePublic] = Field(description="per component, riskiest first")

    @classmethod
    def of(cls, p: Prediction) -> PredictionPublic:
        return cls(
            terminal_id=p.terminal_id,
            merchant_id=p.merchant_id,
            area=p.area,
            model=p.model,
            risk=p.risk.risk if p.risk is not None else None,
            component=p.risk.component if p.risk is not None else None,
            due=p.due,
            last_visit=p.last_visit,
            evidence=[EvidencePublic.of(e) for e in p.risk.evidence] if p.risk else [],
        )


class AreaVisitsPublic(BaseModel):
    area: str
    terminals: list[PredictionPublic]


class VisitCreate(BaseModel):
    terminal_id: Annotated[str, Field(min_length=1, max_length=64)]
    outcome: Literal["confirmed", "not_confirmed"]
    part_replaced: bool = False
    component: Literal["printer", "card_reader", "device"] | None = Field(
        None, description="default: the component the prediction names now"
    )
    visited_at: AwareDatetime | None = None
    note: Annotated[str, Field(max_length=2000)] = ""


class VisitPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    terminal_id: str
    component: str
    risk: float
    outcome: str
    part_replaced: bool
    visited_at: datetime
    recorded_at: datetime
    performed_by: str
    note: str


class VisitStatsPublic(BaseModel):
    visits: int
    confirmed: int
    confirmed_share: float | None
