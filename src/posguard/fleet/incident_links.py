"""Link incidents to their events, many at once (the burst and extend paths of a step)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from posguard.fleet.db.models import IncidentEvent

CHUNK = 1000  # keys per IN (...) look-up
LINK_CHUNK = 5000  # rows per multi-row insert of links (2 parameters each)


def link_many(session: Session, links: Iterable[tuple[int, Sequence[int]]]) -> None:
    """Link incidents to their events in one multi-row insert (per ``LINK_CHUNK`` rows); id 0
    is a heartbeat known from ``terminal_liveness`` only (no events row to link)."""
    rows = list(
        dict.fromkeys((incident_id, e) for incident_id, events in links for e in events if e > 0)
    )
    if not rows:
        return
    pg = session.get_bind().dialect.name == "postgresql"
    ins = postgresql.insert(IncidentEvent) if pg else sqlite.insert(IncidentEvent)
    for chunk in range(0, len(rows), LINK_CHUNK):
        part = [{"incident_id": i, "event_id": e} for i, e in rows[chunk : chunk + LINK_CHUNK]]
        session.execute(ins.values(part).on_conflict_do_nothing())
