"""Report figures: after-sales by brand and model (through ``posguard.merchant.brands``),
incident trends per day and category, and overdue maintenance (``posguard.fleet.maintenance``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.catalog.model import Entry
from posguard.fleet.db.models import Command, Incident, Terminal
from posguard.fleet.repo.commands import CommandStatus
from posguard.merchant.brands import Ranking, RankingRule, rank
from posguard.merchant.fleet_records import (
    FleetIncident,
    FleetRecords,
    FleetTerminal,
    Resolution,
)

TREND_DAYS = 30
# The dashboard ranks smaller estates than a buyer's comparison would; the sample rule still
# keeps one or two terminals out of the ranking.
DASHBOARD_RULE = RankingRule(min_terminals=3, min_terminal_years=0.5)


def _resolution(inc: Incident, remote_fixed: set[int]) -> Resolution | None:
    """Remote when the rules cleared it (the terminal recovered), it was merged into a
    fleet-wide incident, or a remote command for it succeeded; else on site."""
    if inc.resolved_at is None:
        return None
    by = inc.resolved_by or ""
    if by == "rule" or by.startswith("merged:") or inc.id in remote_fixed:
        return Resolution.REMOTE
    return Resolution.ON_SITE


def fleet_records(
    session: Session,
    *,
    merchant_id: str | None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> FleetRecords:
    """The fleet's terminals and terminal-level incidents in the merchant package's shape.

    With a range, only the incidents opened in ``[since, until)`` and terminals counted from
    ``since`` at the earliest (their terminal-years are those of the range)."""
    tq = select(Terminal).order_by(Terminal.id)
    iq = select(Incident).where(Incident.terminal_id.is_not(None)).order_by(Incident.id)
    if since is not None:
        iq = iq.where(Incident.opened_at >= since)
    if until is not None:
        iq = iq.where(Incident.opened_at < until)
    if merchant_id is not None:
        tq = tq.where(Terminal.merchant_id == merchant_id)
        iq = iq.where(Incident.merchant_id == merchant_id)
    terminals = [
        FleetTerminal(
            terminal_id=t.id,
            merchant_id=t.merchant_id,
            brand=t.brand,
            model=t.model,
            installed_on=_from(t.install_date or t.created_at.date(), since),
            warranty_end=t.warranty_end,
        )
        for t in session.scalars(tq)
    ]
    remote_fixed: set[int] = {
        i
        for i in session.scalars(
            select(Command.incident_id).where(
                Command.incident_id.is_not(None),
                Command.status == CommandStatus.SUCCEEDED.value,
            )
        )
        if i is not None
    }
    known = {t.terminal_id for t in terminals}
    incidents = []
    for inc in session.scalars(iq):
        if inc.terminal_id not in known:
            continue
        try:
            incidents.append(
                FleetIncident(
                    incident_id=str(inc.id),
                    terminal_id=inc.terminal_id or "",
                    code=inc.code,
                    opened_at=inc.opened_at,
                    acknowledged_at=inc.acknowledged_at,
                    resolved_at=inc.resolved_at,
                    resolution=_resolution(inc, remote_fixed),
                )
            )
        except ValidationError:
            continue  # inconsistent times (clock skew): left out rather than guessed
    return FleetRecords(terminals=tuple(terminals), incidents=tuple(incidents))


def brand_ranking(
    session: Session,
    *,
    merchant_id: str | None,
    now: datetime,
    by_model: bool,
    since: datetime | None = None,
) -> Ranking:
    """Ranked on downtime per terminal-year up to ``now`` (that day's incidents count, an open
    one is down until now); terminals count from their install day (or ``since``) up to
    ``now``'s day."""
    records = fleet_records(session, merchant_id=merchant_id, since=since, until=now)
    rule = DASHBOARD_RULE
    if since is not None:  # a shorter range asks for the same share of a year's service
        share = min((now - since).days, 365) / 365
        rule = RankingRule(min_terminals=rule.min_terminals, min_terminal_years=0.5 * share)
    return rank(records, as_of=now.date(), by_model=by_model, rule=rule, until=now)


def _from(installed: date, since: datetime | None) -> date:
    return installed if since is None else max(installed, since.date())


@dataclass(frozen=True, slots=True)
class TrendRow:
    day: str
    category: str
    opened: int
    resolved: int


def incident_trends(
    session: Session,
    *,
    merchant_id: str | None,
    now: datetime,
    catalog: Mapping[str, Entry],
    days: int = TREND_DAYS,
    since: datetime | None = None,
) -> list[TrendRow]:
    """Incidents opened and resolved per day and catalog category in ``[since, now)``
    (``since``: ``days`` before ``now`` by default)."""
    since = since or now - timedelta(days=days)
    q = select(Incident.code, Incident.opened_at, Incident.resolved_at).where(
        ((Incident.opened_at >= since) & (Incident.opened_at < now))
        | ((Incident.resolved_at >= since) & (Incident.resolved_at < now))
    )
    if merchant_id is not None:
        q = q.where(Incident.merchant_id == merchant_id)
    opened: dict[tuple[str, str], int] = defaultdict(int)
    resolved: dict[tuple[str, str], int] = defaultdict(int)
    for code, opened_at, resolved_at in session.execute(q):
        entry = catalog.get(code)
        cat = entry.category.value if entry else "unknown"
        if since <= opened_at < now:
            opened[(opened_at.date().isoformat(), cat)] += 1
        if resolved_at is not None and since <= resolved_at < now:
            resolved[(resolved_at.date().isoformat(), cat)] += 1
    keys = sorted(set(opened) | set(resolved))
    return [TrendRow(d, c, opened.get((d, c), 0), resolved.get((d, c), 0)) for d, c in keys]
