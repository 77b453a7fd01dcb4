"""What the score reads from the fleet's store: wear counters from heartbeats, incidents per
component, and the parts replaced at recorded visits.

The one place that knows where heartbeats are kept: the sampled history
``heartbeat_samples`` (per terminal the earliest heartbeat of each sample period, one hour by
default; counters in ``data.wear``), which ingest keeps since it stores no heartbeat as an event.
Only the last sample of each terminal-day is read (cumulative counters need no more), so a month
costs ~30 rows a terminal; the daily series grow from one day's last sample to the next's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from posguard.common.events import wear_of
from posguard.fleet.db.models import HeartbeatSample, Incident, PredictionVisit
from posguard.fleet.prediction.components import COMPONENTS
from posguard.fleet.prediction.series import Sample

INCIDENT_DAYS = 30


def _day(session: Session, column: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("day", column)
    return func.strftime("%Y-%m-%d", column)


def _has_wear(session: Session) -> ColumnElement[bool]:
    """``data`` has a ``wear`` key (SQLAlchemy's JSON index quotes a missing value on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return HeartbeatSample.data.op("->")("wear").is_not(None)
    return func.json_extract(HeartbeatSample.data, "$.wear").is_not(None)


def wear_samples(
    session: Session, *, terminal_ids: Sequence[str], since: datetime, until: datetime
) -> dict[str, list[Sample]]:
    """Per terminal, the last sampled heartbeat carrying wear counters of each day in
    [since, until)."""
    if not terminal_ids:
        return {}
    day = _day(session, HeartbeatSample.bucket)
    last_of_day = (
        select(
            HeartbeatSample.terminal_id.label("terminal_id"),
            func.max(HeartbeatSample.bucket).label("bucket"),
        )
        .where(
            HeartbeatSample.terminal_id.in_(terminal_ids),
            HeartbeatSample.ts >= since,
            HeartbeatSample.ts < until,
            _has_wear(session),  # a heartbeat from elsewhere may carry none
        )
        .group_by(HeartbeatSample.terminal_id, day)
        .subquery()
    )
    rows = session.execute(
        select(HeartbeatSample.terminal_id, HeartbeatSample.ts, HeartbeatSample.data).join(
            last_of_day,
            (HeartbeatSample.terminal_id == last_of_day.c.terminal_id)
            & (HeartbeatSample.bucket == last_of_day.c.bucket),
        )
    ).all()
    out: dict[str, list[Sample]] = defaultdict(list)
    for terminal_id, ts, data in rows:
        wear = wear_of(data or {})
        if wear is None:
            continue
        counters = {k: float(v) for k, v in wear.model_dump(exclude_none=True).items()}
        out[terminal_id].append(Sample(ts, counters))
    return dict(out)


def incident_counts(
    session: Session, *, terminal_ids: Sequence[str], now: datetime
) -> dict[str, dict[str, int]]:
    """Per terminal, its incidents of the last 30 days per component (by catalog code)."""
    if not terminal_ids:
        return {}
    rows = session.execute(
        select(Incident.terminal_id, Incident.code, func.count())
        .where(
            Incident.terminal_id.in_(terminal_ids),
            Incident.opened_at >= now - timedelta(days=INCIDENT_DAYS),
        )
        .group_by(Incident.terminal_id, Incident.code)
    ).all()
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for terminal_id, code, n in rows:
        if terminal_id is None:
            continue
        for comp in COMPONENTS:
            if code in comp.incident_codes:
                out[terminal_id][comp.name] = out[terminal_id].get(comp.name, 0) + int(n)
    return dict(out)


def replaced_parts(session: Session, *, terminal_ids: Sequence[str]) -> dict[str, dict[str, date]]:
    """Per terminal, the day each component's part was last replaced at a recorded visit."""
    if not terminal_ids:
        return {}
    rows = session.execute(
        select(PredictionVisit.terminal_id, PredictionVisit.component, PredictionVisit.visited_at)
        .where(
            PredictionVisit.terminal_id.in_(terminal_ids),
            PredictionVisit.part_replaced.is_(True),
        )
        .order_by(PredictionVisit.visited_at)
    ).all()
    out: dict[str, dict[str, date]] = defaultdict(dict)
    for terminal_id, component, visited_at in rows:
        out[terminal_id][component] = visited_at.date()
    return dict(out)
