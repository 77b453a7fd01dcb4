"""What a person does to an incident (acknowledge, resolve): one service for the API and the
dashboard, owning who may do it, the state check, the metric and the recorded actor.

The diagnosis engine opens and closes incidents by rule (``fleet/incidents.py``); this module
is the human side. A transition that does not apply (acknowledging a resolved incident)
raises :class:`TransitionRefusedError` and changes nothing; each caller turns it into its own
answer (409 in the API, the same in the dashboard).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from posguard.common.errors import PosguardError
from posguard.fleet.db.models import Incident
from posguard.fleet.metrics import INCIDENTS
from posguard.fleet.repo import incidents as repo
from posguard.fleet.repo.users import Role


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledged"
    RESOLVE = "resolved"


STAFF = frozenset({Role.ADMIN, Role.OPS})
"""Who may act on an incident: operations and administrators, never a merchant user."""


class TransitionRefusedError(PosguardError):
    """The incident is not in a state the action applies to (``context["forbidden"]``: the
    user may not act on incidents at all)."""

    @property
    def forbidden(self) -> bool:
        return bool(self.context.get("forbidden"))


def act(
    session: Session,
    *,
    incident: Incident,
    action: Action,
    username: str,
    role: Role,
    now: datetime,
) -> Incident:
    """Apply ``action`` by ``username`` (of ``role``) at ``now``; counted in
    ``posguard_fleet_incidents_total`` whichever face it came from."""
    if role not in STAFF:
        raise TransitionRefusedError(
            f"a {role.value} user may not act on incidents", forbidden=True
        )
    if action is Action.ACKNOWLEDGE:
        done = repo.acknowledge(session, incident=incident, by=username, now=now)
        refused = f"incident is {incident.status}, not open"
    else:
        done = repo.resolve(session, incident=incident, by=f"user:{username}", now=now)
        refused = f"incident is already {incident.status}"
    if not done:
        raise TransitionRefusedError(refused)
    INCIDENTS.labels(action.value).inc()
    return incident
