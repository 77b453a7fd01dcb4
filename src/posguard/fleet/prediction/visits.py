"""Visits recorded against predictions: the loop closed.

A technician (or the ops desk after a call) records what a visit found: the wear the prediction
named was there (``confirmed``; usually the part is replaced) or it was not (``not_confirmed``:
a wasted visit). The risk and reasons shown when the visit was recorded are kept with it, so the
share of confirmed visits is the method's precision in the field, next to the simulation's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import PredictionVisit, Terminal
from posguard.fleet.prediction.components import BY_NAME


class Outcome(StrEnum):
    CONFIRMED = "confirmed"
    NOT_CONFIRMED = "not_confirmed"


def record_visit(
    session: Session,
    *,
    terminal_id: str,
    component: str,
    outcome: Outcome,
    part_replaced: bool,
    visited_at: datetime,
    recorded_at: datetime,
    performed_by: str,
    risk: float,
    reasons: dict[str, object],
    note: str = "",
) -> PredictionVisit:
    """Store one visit; a replaced part makes the score start that part's history afresh."""
    if component not in BY_NAME:
        raise ValueError(f"component {component!r}: one of {', '.join(BY_NAME)}")
    if part_replaced and outcome is not Outcome.CONFIRMED:
        raise ValueError("part_replaced: only a visit that confirmed the wear replaces a part")
    if visited_at > recorded_at:
        raise ValueError("visited_at is in the future")
    visit = PredictionVisit(
        terminal_id=terminal_id,
        component=component,
        risk=risk,
        reasons=reasons,
        visited_at=visited_at,
        recorded_at=recorded_at,
        outcome=outcome.value,
        part_replaced=part_replaced,
        performed_by=performed_by,
        note=note,
    )
    session.add(visit)
    session.flush()
    return visit


def list_visits(
    session: Session,
    *,
    terminal_id: str | None = None,
    merchant_id: str | None = None,
    limit: int = 100,
) -> Sequence[PredictionVisit]:
    q = select(PredictionVisit).order_by(
        PredictionVisit.visited_at.desc(), PredictionVisit.id.desc()
    )
    if terminal_id is not None:
        q = q.where(PredictionVisit.terminal_id == terminal_id)
    if merchant_id is not None:
        q = q.join(Terminal, Terminal.id == PredictionVisit.terminal_id).where(
            Terminal.merchant_id == merchant_id
        )
    return session.scalars(q.limit(limit)).all()


@dataclass(frozen=True, slots=True)
class VisitStats:
    visits: int
    confirmed: int

    @property
    def confirmed_share(self) -> float | None:
        return self.confirmed / self.visits if self.visits else None


def visit_stats(session: Session, *, merchant_id: str | None = None) -> VisitStats:
    """How many recorded visits confirmed their prediction (the field's precision)."""
    q = select(PredictionVisit.outcome, func.count()).group_by(PredictionVisit.outcome)
    if merchant_id is not None:
        q = q.join(Terminal, Terminal.id == PredictionVisit.terminal_id).where(
            Terminal.merchant_id == merchant_id
        )
    counts = {str(o): int(n) for o, n in session.execute(q).all()}
    total = sum(counts.values())
    return VisitStats(visits=total, confirmed=counts.get(Outcome.CONFIRMED.value, 0))


def last_visits(session: Session, *, terminal_ids: Sequence[str]) -> dict[str, datetime]:
    if not terminal_ids:
        return {}
    rows = session.execute(
        select(PredictionVisit.terminal_id, func.max(PredictionVisit.visited_at))
        .where(PredictionVisit.terminal_id.in_(terminal_ids))
        .group_by(PredictionVisit.terminal_id)
    ).all()
    return {str(tid): when for tid, when in rows}


def recently_wasted(session: Session, *, terminal_ids: Sequence[str], since: datetime) -> set[str]:
    """The terminals with a visit since ``since`` that found nothing."""
    if not terminal_ids:
        return set()
    rows = session.scalars(
        select(PredictionVisit.terminal_id).where(
            PredictionVisit.terminal_id.in_(terminal_ids),
            PredictionVisit.outcome == Outcome.NOT_CONFIRMED.value,
            PredictionVisit.visited_at >= since,
        )
    ).all()
    return set(rows)
