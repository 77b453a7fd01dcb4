"""Extend a step's open incidents set-based: "more of the same while open" decisions (a group
incident's new members, a terminal's repeated fault) written with a few statements per step.

While a fleet-wide incident is open, the correlator decides an extension for every further
matching event: 1,700 failed updates in one second are 1,700 extensions, each one by one a
look-up, a link, a member-list update and a swallow query. Here the step's extensions share
one link insert, one query for the children they may swallow and one flush; each decision is
still applied in its order (members appended, children merged at the decision's own time).
:class:`posguard.fleet.incident_burst.Burst` decides which decisions come here and keeps them
in order with the rest of the step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import Incident
from posguard.fleet.diagnosis.evidence import MAX_MEMBERS
from posguard.fleet.diagnosis.observed import Open
from posguard.fleet.incident_links import CHUNK, link_many
from posguard.fleet.repo.incidents import merge

if TYPE_CHECKING:
    from posguard.fleet.incidents import Applied, IncidentApplier


class Extends:
    """The step's pending extensions of incidents open before it."""

    def __init__(self, applier: IncidentApplier, session: Session) -> None:
        self.applier = applier
        self.session = session
        self.pending: list[tuple[Incident, Open]] = []
        self.members: set[str] = set()  # terminals a pending extension may swallow

    def add(self, incident: Incident, d: Open) -> None:
        self.pending.append((incident, d))
        self.members.update(d.members)

    def flush(self, result: Applied) -> None:
        pending, self.pending = self.pending, []
        self.members = set()
        if not pending:
            return
        link_many(self.session, ((inc.id, [e.id for e in d.events]) for inc, d in pending))
        for inc, d in pending:
            if d.members:  # the affected-terminal list is live: terminals that joined later
                known = list(inc.explanation.get("members", []))
                new = [m for m in d.members if m not in known][: max(0, MAX_MEMBERS - len(known))]
                if new:
                    inc.explanation = {**inc.explanation, "members": known + new}
            result.extended.append(inc.id)
        swallowing = [
            (inc, d) for inc, d in pending if d.members and not inc.scope.startswith("issuer:")
        ]
        if swallowing:
            children = self._children(sorted({m for _, d in swallowing for m in d.members}))
            for inc, d in swallowing:
                rule = self.applier.rules[d.rule_id]
                for member in d.members:
                    for child in children.get(member, ()):
                        if child.open_key is not None and self.applier.swallows(rule, child):
                            merge(child, inc, d.at)
        self.session.flush()

    def _children(self, terminals: list[str]) -> Mapping[str, list[Incident]]:
        """The open per-terminal incidents of ``terminals``, by terminal."""
        out: dict[str, list[Incident]] = {}
        for chunk in range(0, len(terminals), CHUNK):
            part = terminals[chunk : chunk + CHUNK]
            q = select(Incident).where(
                Incident.terminal_id.in_(part), Incident.open_key.is_not(None)
            )
            for child in self.session.scalars(q.order_by(Incident.id)):
                out.setdefault(child.terminal_id or "", []).append(child)
        return out
