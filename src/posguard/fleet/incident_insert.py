"""New incidents written in one statement on PostgreSQL (:mod:`posguard.fleet.repo.pg_unnest`).

An ORM flush of many new incidents is a multi-row ``INSERT .. VALUES`` that psycopg parses again
on every call: ~135 µs of CPU an incident, most of a diagnoser shard's time in a burst (15,000
paper-outs at 100,000 terminals); over arrays, ~25 µs.

The incidents come back as persistent objects of the session (their ids set, every column
loaded), as a flush would leave them, and the notification hook is told of them
(:func:`posguard.fleet.notify.hook.announce_opened`), since no flush saw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlalchemy.orm import Session, make_transient_to_detached

from posguard.fleet.db.models import Incident
from posguard.fleet.notify.hook import announce_opened
from posguard.fleet.repo.pg_unnest import UnnestInsert

_COLUMNS: Final = (
    "rule_id", "scope", "open_key", "cause_key", "code", "severity", "status", "terminal_id",
    "merchant_id", "explanation", "opened_at", "detected_at", "reopen_count",
)  # fmt: skip
_INSERT: Final = UnnestInsert(Incident.__table__, _COLUMNS, tail="RETURNING id, open_key")
_UNSET: Final = (
    "parent_id", "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by",
    "time_to_ack_s", "time_to_resolve_s", "assignee", "resolution_reason", "resolution_note",
)  # fmt: skip


def insert_opened(session: Session, incidents: Sequence[Incident]) -> None:
    """Insert new open incidents (each with its own ``open_key``) in one statement and make
    them persistent in ``session``; raises IntegrityError as a flush would (a key taken)."""
    if not incidents:
        return
    for inc in incidents:
        inc.reopen_count = 0
    rows = [{c: getattr(inc, c) for c in _COLUMNS} for inc in incidents]
    ids = {row.open_key: row.id for row in _INSERT.execute(session, rows)}
    if len(ids) != len(incidents):
        raise ValueError("insert_opened needs a distinct open_key per incident")
    for inc in incidents:
        inc.id = ids[inc.open_key]
        for column in _UNSET:
            if column not in inc.__dict__:
                setattr(inc, column, None)
        make_transient_to_detached(inc)
        session.add(inc)
    announce_opened(session, incidents)
