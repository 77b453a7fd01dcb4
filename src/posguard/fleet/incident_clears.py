"""Resolve a step's cleared incidents set-based: the incidents open before the step that the
step's clear decisions resolve (a host outage gone quiet, 1,500 printers refilled) are closed
with one flush (one ``UPDATE`` executed for all of them) and one insert of their audit entries
(:func:`posguard.fleet.audit.record_many`) instead of a look-up, an update and an insert each.

:class:`posguard.fleet.incident_burst.Burst` decides which clears come here (an incident open
before the step and untouched by it) and keeps them in order with the rest of the step: what
they resolve is written after the step's pending opens and extensions, as one at a time would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from posguard.fleet import audit
from posguard.fleet.audit import AuditAction
from posguard.fleet.db.models import Incident
from posguard.fleet.diagnosis.evidence import bounded
from posguard.fleet.diagnosis.observed import Clear
from posguard.fleet.repo.incidents import close

if TYPE_CHECKING:
    from posguard.fleet.incidents import Applied


def clear_entry(incident: Incident, d: Clear) -> dict[str, Any]:
    """The audit entry of a clear (:func:`posguard.fleet.audit.record`'s arguments)."""
    return {
        "incident_id": incident.id,
        "action": AuditAction.RESOLVED,
        "actor": f"rule:{d.rule_id}",
        "origin": audit.ORIGIN_SYSTEM,
        "at": incident.resolved_at or d.at,
        "details": {"reason": "cleared", "text": d.reason},
        "merchant_safe": True,
    }


def note_cleared(incident: Incident, d: Clear) -> None:
    """The clear's reason in the incident's explanation."""
    incident.explanation = bounded({**incident.explanation, "cleared": d.reason})


def record_clear(session: Session, incident: Incident, d: Clear) -> None:
    """What a clear writes beside the resolution: its reason and the audit entry."""
    note_cleared(incident, d)
    audit.record(session, **clear_entry(incident, d))


class Clears:
    """The step's pending clears of incidents open before it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pending: list[tuple[Incident, Clear]] = []
        self.keys: set[str] = set()
        self.terminals: set[str] = set()  # terminals whose incident a pending clear resolves

    def add(self, incident: Incident, d: Clear) -> None:
        self.pending.append((incident, d))
        self.keys.add(incident.open_key or "")
        if d.scope.startswith("terminal:"):
            self.terminals.add(d.scope.removeprefix("terminal:"))

    def flush(self, result: Applied) -> None:
        pending, self.pending = self.pending, []
        self.keys, self.terminals = set(), set()
        entries: list[dict[str, Any]] = []
        for inc, d in pending:
            if inc.open_key is None:  # merged by an extension before it in the step
                continue
            if close(inc, by="rule", now=d.at):
                note_cleared(inc, d)
                entries.append(clear_entry(inc, d))
                result.resolved.append(inc.id)
        if entries:
            # on PostgreSQL the entries' statement flushes the resolutions first (autoflush:
            # the notification hook sees them there); on SQLite they go in the one flush
            audit.record_many(self.session, entries)
            self.session.flush()
