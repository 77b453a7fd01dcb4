"""The one place incident transitions enqueue notifications: a SQLAlchemy ``after_flush``
listener on the fleet's sessionmaker. Whoever opens, acknowledges or resolves an incident
(the diagnosis loop, the API, the dashboard) does so in a transaction; the outbox rows are
written in that same transaction, so a transition and its notifications commit or roll back
together and no code path can forget to notify.

Assign and reopen are told by their audit entries (``fleet/incident_actions.py`` writes one
per action, in the same flush): transition ``assign:<entry id>`` / ``reopen:<entry id>``, so
each assignment or reopening has its own idempotency key. After a reopen the incident's next
ack and resolve are ``ack:r<n>`` / ``resolve:r<n>`` (n: times reopened), told again.

``install(sessions, notifier)`` is called once per process by the fleet app.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from posguard.catalog.model import Entry
from posguard.fleet.clock import Clock
from posguard.fleet.db.models import Incident, IncidentAudit, Terminal
from posguard.fleet.notify import merchant_contacts, outbox
from posguard.fleet.notify.config import NotifyConfig
from posguard.fleet.notify.routing import Recipient, Subject, recipients

# incident status -> the transition a message is about (merged incidents say nothing: their
# group incident speaks for them)
STATUS_TRANSITIONS = {"open": "open", "acknowledged": "ack", "resolved": "resolve"}
# audit actions that are transitions of their own
AUDIT_TRANSITIONS = {"assigned": "assign", "reopened": "reopen"}
# where an installed hook is found from a session (its sessionmaker's ``info``)
_HOOK_KEY = "posguard.notify.hook"


def cycle(transition: str, reopened: int) -> str:
    """The transition's name in the incident's ``reopened``-th life (0: the first).

    >>> cycle("resolve", 0), cycle("resolve", 2)
    ('resolve', 'resolve:r2')
    """
    return transition if not reopened else f"{transition}:r{reopened}"


def placements(conn: Any, terminal_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """terminal id -> (acquirer host, area), in one look-up per 1,000 terminals."""
    wanted = sorted(set(terminal_ids))
    out: dict[str, tuple[str, str]] = {}
    for chunk in range(0, len(wanted), 1000):
        part = wanted[chunk : chunk + 1000]
        rows = conn.execute(
            select(Terminal.id, Terminal.acquirer_host, Terminal.area).where(Terminal.id.in_(part))
        )
        out.update((tid, (host, area)) for tid, host, area in rows)
    return out


def subject(
    conn: Any,
    incident: Incident,
    catalog: Mapping[str, Entry],
    known: Mapping[str, tuple[str, str]] | None = None,
) -> Subject:
    """Routing's view of an incident: its scope, placement and catalog entry (``known``: the
    placements already looked up, by terminal id)."""
    kind, _, value = incident.scope.partition(":")
    host = value if kind == "host" else None
    area = value if kind == "area" else None
    if incident.terminal_id is not None:
        if known is None:
            known = placements(conn, [incident.terminal_id])
        found = known.get(incident.terminal_id)
        if found is not None:
            host, area = found
    return Subject(
        code=incident.code,
        severity=incident.severity,
        scope=incident.scope,
        terminal_id=incident.terminal_id,
        merchant_id=incident.merchant_id,
        host=host,
        area=area,
        entry=catalog.get(incident.code),
    )


def rows_for(
    incident_id: int, transition: str, targets: Sequence[Recipient], clock: Clock
) -> list[dict[str, Any]]:
    now = clock.now()
    out = []
    for r in targets:
        hold = r.hold_s if transition == "open" else 0.0
        out.append(
            outbox.new_row(
                incident_id=incident_id,
                transition=transition,
                route_id=r.route_id,
                channel=r.channel,
                recipient=r.recipient,
                lang=r.lang,
                audience=r.audience,
                now=now,
                not_before=now + timedelta(seconds=hold),
            )
        )
    return out


@dataclass
class TransitionHook:
    config: NotifyConfig
    catalog: Mapping[str, Entry]
    clock: Clock

    def transitions(self, session: Session) -> list[tuple[Incident, str, str]]:
        """(incident, routing kind, transition name) of each change in this flush."""
        found: list[tuple[Incident, str, str]] = []
        for obj in session.new:
            if isinstance(obj, Incident) and obj.status in STATUS_TRANSITIONS:
                kind = STATUS_TRANSITIONS[obj.status]
                found.append((obj, kind, kind))
            elif isinstance(obj, IncidentAudit) and obj.action in AUDIT_TRANSITIONS:
                incident = session.get(Incident, obj.incident_id)
                if incident is not None:
                    kind = AUDIT_TRANSITIONS[obj.action]
                    found.append((incident, kind, f"{kind}:{obj.id}"))
        for obj in session.dirty:
            if not isinstance(obj, Incident):
                continue
            added = inspect(obj).attrs.status.history.added
            if added and added[-1] in STATUS_TRANSITIONS and added[-1] != "open":
                kind = STATUS_TRANSITIONS[added[-1]]
                found.append((obj, kind, cycle(kind, obj.reopen_count or 0)))
        return found

    def after_flush(self, session: Session, _flush_context: Any) -> None:
        self.enqueue(session, self.transitions(session))

    def enqueue(self, session: Session, found: Sequence[tuple[Incident, str, str]]) -> None:
        """The outbox rows of these transitions, in the session's transaction."""
        if not found:
            return
        conn = session.connection()
        known = placements(conn, [i.terminal_id for i, _, _ in found if i.terminal_id])
        contacts = merchant_contacts.lookup(
            conn, [i.merchant_id for i, _, _ in found if i.merchant_id]
        )
        rows: list[dict[str, Any]] = []
        for incident, kind, transition in found:
            subj = subject(conn, incident, self.catalog, known)
            targets = recipients(self.config, subj, kind, contacts)
            rows.extend(rows_for(incident.id, transition, targets, self.clock))
        outbox.enqueue(conn, rows)


def install(
    sessions: sessionmaker[Session],
    *,
    config: NotifyConfig,
    catalog: Mapping[str, Entry],
    clock: Clock,
) -> TransitionHook:
    hook = TransitionHook(config, catalog, clock)
    event.listen(sessions, "after_flush", hook.after_flush)
    sessions.kw.setdefault("info", {})[_HOOK_KEY] = hook
    return hook


def uninstall(sessions: sessionmaker[Session], hook: TransitionHook) -> None:
    event.remove(sessions, "after_flush", hook.after_flush)
    sessions.kw.get("info", {}).pop(_HOOK_KEY, None)


def announce_opened(session: Session, incidents: Sequence[Incident]) -> None:
    """Incidents opened by a statement no flush saw (:mod:`posguard.fleet.incident_insert`):
    their "open" notifications are enqueued as a flush would have, if a hook is installed."""
    hook = session.info.get(_HOOK_KEY)
    if isinstance(hook, TransitionHook):
        hook.enqueue(session, [(i, "open", "open") for i in incidents if i.status == "open"])
