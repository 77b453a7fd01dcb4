"""SLA breaches feed escalation: a route with ``sla_breach: true`` tells its last escalation
level (or, without levels, its own targets) when an incident it takes passes a target of its
severity (``fleet.incident_policy``): time to acknowledge while still open (transition
``sla:ack``), time to resolve while still open or acknowledged (``sla:resolve``). Each is told
once per incident life (``sla:ack:r1`` after a reopen), by the outbox's idempotency key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.catalog.model import Entry
from posguard.fleet.clock import Clock
from posguard.fleet.db.models import Incident
from posguard.fleet.incident_policy import IncidentPolicy
from posguard.fleet.notify.config import NotifyConfig
from posguard.fleet.notify.hook import cycle, rows_for, subject
from posguard.fleet.notify.routing import sla_breach_targets
from posguard.fleet.sla import SlaState, evaluate


def breach_rows(
    session: Session,
    *,
    config: NotifyConfig,
    catalog: Mapping[str, Entry],
    clock: Clock,
    policy: IncidentPolicy,
) -> list[dict[str, Any]]:
    """Outbox rows for every breach not told yet (the caller drops the known keys)."""
    if not any(r.sla_breach for r in config.routes) or not policy.sla:
        return []
    now = clock.now()
    soonest = min(t.ack_min for t in policy.sla.values())
    longest = max(t.resolve_min for t in policy.sla.values())
    incidents = session.scalars(
        select(Incident).where(
            Incident.status.in_(["open", "acknowledged"]),
            Incident.opened_at <= now - timedelta(minutes=soonest),
            Incident.opened_at >= now - timedelta(minutes=longest + 7 * 24 * 60),
        )
    ).all()
    rows: list[dict[str, Any]] = []
    conn = session.connection()
    for inc in incidents:
        target = policy.sla.get(inc.severity)
        if target is None:
            continue
        status = evaluate(
            target,
            opened_at=inc.opened_at,
            acknowledged_at=inc.acknowledged_at,
            resolved_at=inc.resolved_at,
            now=now,
        )
        breached = []
        if inc.status == "open" and status.ack.state is SlaState.BREACHED:
            breached.append("ack")
        if status.resolve.state is SlaState.BREACHED:
            breached.append("resolve")
        if not breached:
            continue
        targets = sla_breach_targets(config, subject(conn, inc, catalog))
        for which in breached:
            transition = cycle(f"sla:{which}", inc.reopen_count or 0)
            rows.extend(rows_for(inc.id, transition, targets, clock))
    return rows
