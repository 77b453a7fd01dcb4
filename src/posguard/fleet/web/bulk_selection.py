"""Which terminals a bulk action is for: the inventory's filter, ticked terminals, or an
incident's affected terminals (its member list; a host, area or model incident without one:
every terminal of that group). The selection travels through the forms as its URL parameters,
and is resolved again when the command is confirmed.

>>> s = Selection.from_query([("terminal", "T1"), ("terminal", "T2"), ("terminal", "T1")])
>>> s.kind, s.terminal_ids, s.pairs()
('list', ('T1', 'T2'), [('terminal', 'T1'), ('terminal', 'T2')])
>>> Selection.from_query([("incident", "7"), ("host", "x")]).kind
'incident'
>>> Selection.from_query([("host", "acq-east"), ("sort", "model")]).pairs()
[('host', 'acq-east')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.catalog.model import Entry
from posguard.fleet.bulk import MAX_TERMINALS, TooManyTerminalsError
from posguard.fleet.db.models import Incident, Terminal
from posguard.fleet.repo import incidents as incident_repo
from posguard.fleet.web.filters import Filters
from posguard.fleet.web.inventory import InventoryQuery, iter_matching

_SCOPES = {"host": "host", "area": "area", "model": "model"}  # incident scope -> filter


@dataclass(frozen=True, slots=True)
class Selection:
    kind: str  # filter | list | incident
    params: Mapping[str, str] = field(default_factory=dict)
    terminal_ids: tuple[str, ...] = ()
    incident_id: int | None = None

    @classmethod
    def from_query(cls, items: Iterable[tuple[str, str]]) -> Selection:
        items = list(items)
        ids = list(dict.fromkeys(v.strip()[:64] for k, v in items if k == "terminal" and v))
        incident = next((v for k, v in items if k == "incident"), None)
        if incident is not None and incident.isdigit() and 0 < int(incident) < 2**53:
            return cls("incident", incident_id=int(incident))
        if ids:
            return cls("list", terminal_ids=tuple(ids))
        q = InventoryQuery.from_query(dict(items), None)
        return cls("filter", params=q.selection())

    def pairs(self) -> list[tuple[str, str]]:
        """The hidden form fields that carry it."""
        if self.kind == "incident":
            return [("incident", str(self.incident_id))]
        if self.kind == "list":
            return [("terminal", t) for t in self.terminal_ids]
        return list(self.params.items())

    def record(self) -> dict[str, object]:
        """What the bulk action stores of it."""
        if self.kind == "list":
            return {"kind": "list", "terminals": len(self.terminal_ids)}
        if self.kind == "incident":
            return {"kind": "incident", "incident": self.incident_id}
        return {"kind": "filter", **self.params}


def _capped(found: Iterable[Terminal]) -> list[Terminal]:
    out: list[Terminal] = []
    for t in found:
        out.append(t)
        if len(out) > MAX_TERMINALS:
            raise TooManyTerminalsError(len(out))
    return out


def _by_ids(session: Session, ids: Sequence[str]) -> list[Terminal]:
    if len(ids) > MAX_TERMINALS:
        raise TooManyTerminalsError(len(ids))
    found: dict[str, Terminal] = {}
    for part in range(0, len(ids), 1000):
        chunk = list(ids[part : part + 1000])
        found.update(
            (t.id, t) for t in session.scalars(select(Terminal).where(Terminal.id.in_(chunk)))
        )
    return [found[i] for i in ids if i in found]


def incident_terminals(session: Session, incident: Incident) -> list[Terminal]:
    """The terminals an incident affects (see the module docstring)."""
    if incident.terminal_id:
        return _by_ids(session, [incident.terminal_id])
    members = [str(m) for m in (incident.explanation or {}).get("members", [])]
    if members:
        return _by_ids(session, members)
    kind, _, value = incident.scope.partition(":")
    if kind in _SCOPES and value:
        q = Filters(**{_SCOPES[kind]: value}).apply(select(Terminal).order_by(Terminal.id))
        return _capped(session.scalars(q.limit(MAX_TERMINALS + 1)))
    return []


def resolve(
    session: Session, selection: Selection, *, now: datetime, catalog: Mapping[str, Entry]
) -> tuple[list[Terminal], Incident | None]:
    """The selected terminals (refused past ``MAX_TERMINALS``) and the incident, if any."""
    if selection.kind == "incident" and selection.incident_id is not None:
        incident = incident_repo.get_incident(session, incident_id=selection.incident_id)
        if incident is None:
            return [], None
        return incident_terminals(session, incident), incident
    if selection.kind == "list":
        return _by_ids(session, selection.terminal_ids), None
    q = InventoryQuery.from_query(dict(selection.params), None)
    chunks = iter_matching(session, q, now=now, catalog=catalog, chunk=1000)
    return _capped(t for chunk in chunks for t in chunk), None
