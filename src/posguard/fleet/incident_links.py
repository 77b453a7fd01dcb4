"""Link incidents to their events, many at once (the burst and extend paths of a step)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from posguard.fleet.db.models import IncidentEvent
from posguard.fleet.repo.pg_unnest import UnnestInsert

CHUNK = 1000  # keys per IN (...) look-up
LINK_CHUNK = 5000  # rows per multi-row insert of links on SQLite (2 parameters each)
# PostgreSQL: one statement over two arrays, whatever the number of links
_PG_LINKS = UnnestInsert(
    IncidentEvent.__table__, ("incident_id", "event_id"), tail="ON CONFLICT DO NOTHING"
)


def link_many(session: Session, links: Iterable[tuple[int, Sequence[int]]]) -> None:
    """Link incidents to their events in one insert (on SQLite one per ``LINK_CHUNK`` rows); id
    0 is a heartbeat known from ``terminal_liveness`` only (no events row to link)."""
    rows = list(
        dict.fromkeys((incident_id, e) for incident_id, events in links for e in events if e > 0)
    )
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        _PG_LINKS.execute(session, [{"incident_id": i, "event_id": e} for i, e in rows])
        return
    ins = sqlite.insert(IncidentEvent)
    for chunk in range(0, len(rows), LINK_CHUNK):
        part = [{"incident_id": i, "event_id": e} for i, e in rows[chunk : chunk + LINK_CHUNK]]
        session.execute(ins.values(part).on_conflict_do_nothing())
