"""Risk per terminal from the fleet's store, and the "visit before it fails" list per area.

A terminal is on the list when ``score.visit_due`` says so (risk at or above the threshold; a
higher one for ``wasted_memory_days`` after a visit that found nothing) and it was not visited
in the last ``COOLDOWN_DAYS`` (the same rules as the benchmark's replay). Each entry carries its
reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import PredictionVisit, Terminal
from posguard.fleet.prediction import reader
from posguard.fleet.prediction.explain import Reason, reasons
from posguard.fleet.prediction.score import ScoringParams, TerminalRisk, visit_due
from posguard.fleet.prediction.series import daily_counts
from posguard.fleet.prediction.visits import Outcome, last_visits, recently_wasted, record_visit

COOLDOWN_DAYS = 7


@dataclass(frozen=True, slots=True)
class Prediction:
    terminal_id: str
    merchant_id: str
    area: str
    model: str
    risk: TerminalRisk | None  # None: the terminal sends no wear counters
    due: bool
    last_visit: datetime | None

    @property
    def reasons(self) -> list[Reason]:
        return reasons(self.risk.top) if self.risk is not None else []


def predict(
    session: Session,
    *,
    terminals: Sequence[Terminal],
    now: datetime,
    params: ScoringParams | None = None,
) -> list[Prediction]:
    """Each terminal's risk now (today's partial day included), riskiest first."""
    params = params or ScoringParams()
    ids = [t.id for t in terminals]
    days = params.window_days + params.persist_days  # + the day before the first, for growth
    end = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
    samples = reader.wear_samples(
        session, terminal_ids=ids, since=end - timedelta(days=days), until=now
    )
    incidents = reader.incident_counts(session, terminal_ids=ids, now=now)
    replaced = reader.replaced_parts(session, terminal_ids=ids)
    visited = last_visits(session, terminal_ids=ids)
    wasted = recently_wasted(
        session, terminal_ids=ids, since=now - timedelta(days=params.wasted_memory_days)
    )
    out = []
    for t in terminals:
        daily = daily_counts(samples.get(t.id, []), end=end, days=days - 1)
        due, risk = visit_due(
            t.id,
            daily,
            incidents=incidents.get(t.id),
            replaced=replaced.get(t.id),
            recently_wasted=t.id in wasted,
            params=params,
        )
        last = visited.get(t.id)
        if last is not None and last > now - timedelta(days=COOLDOWN_DAYS):
            due = False
        out.append(Prediction(t.id, t.merchant_id, t.area, t.model, risk, due, last))
    out.sort(key=lambda p: p.risk.risk if p.risk is not None else -1.0, reverse=True)
    return out


def visit_list(
    session: Session,
    *,
    now: datetime,
    merchant_id: str | None = None,
    area: str | None = None,
    params: ScoringParams | None = None,
) -> dict[str, list[Prediction]]:
    """Per area (sorted by name), the terminals to visit, riskiest first."""
    q = select(Terminal).where(Terminal.revoked.is_(False)).order_by(Terminal.id)
    if merchant_id is not None:
        q = q.where(Terminal.merchant_id == merchant_id)
    if area is not None:
        q = q.where(Terminal.area == area)
    terminals = session.scalars(q).all()
    by_area: dict[str, list[Prediction]] = {}
    for p in predict(session, terminals=terminals, now=now, params=params):
        if p.due:
            by_area.setdefault(p.area, []).append(p)
    return dict(sorted(by_area.items()))


def record_against_prediction(
    session: Session,
    *,
    terminal: Terminal,
    outcome: Outcome,
    part_replaced: bool,
    now: datetime,
    performed_by: str,
    component: str | None = None,
    visited_at: datetime | None = None,
    note: str = "",
) -> PredictionVisit:
    """Record a visit with the prediction it answers (risk and reasons as they stand now);
    ``component`` defaults to the one the prediction names. ValueError when inconsistent."""
    (found,) = predict(session, terminals=[terminal], now=now)
    component = component or (found.risk.component if found.risk is not None else None)
    if component is None:
        raise ValueError("component: the terminal has no prediction; name the component")
    evidence = None
    if found.risk is not None:
        evidence = next((e for e in found.risk.evidence if e.component == component), None)
    snapshot: dict[str, object] = {}
    if evidence is not None:
        snapshot = {
            "terms": dict(evidence.terms),
            "reasons": [
                {"term": r.term, "zh": r.text.zh, "en": r.text.en} for r in reasons(evidence)
            ],
        }
    return record_visit(
        session,
        terminal_id=terminal.id,
        component=component,
        outcome=outcome,
        part_replaced=part_replaced,
        visited_at=visited_at or now,
        recorded_at=now,
        performed_by=performed_by,
        risk=evidence.risk if evidence is not None else 0.0,
        reasons=snapshot,
        note=note,
    )
