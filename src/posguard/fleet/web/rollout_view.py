"""The bad-firmware incident's "stop the rollout", as a button: which software rollouts are
still going out to the terminals an ``SW.UPDATE_FAILED`` incident affects (an ``update`` bulk
action, running or paused, that sent a command to one of them), so the incident page can offer
to pause the one that shipped the failing version."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.common.commands import RemoteCommand
from posguard.common.update_package import FAILED
from posguard.fleet.bulk_stages import StageState
from posguard.fleet.db.models import BulkAction, Command, Incident
from posguard.fleet.web.bulk_selection import incident_terminals

LIVE = (StageState.RUNNING.value, StageState.PAUSED.value)


def shipping(session: Session, incident: Incident) -> Sequence[BulkAction]:
    """Live rollouts that sent ``update`` to a terminal this incident affects, newest first."""
    if incident.code != FAILED:
        return []
    ids = [t.id for t in incident_terminals(session, incident)][:10_000]
    found: dict[int, BulkAction] = {}
    for part in range(0, len(ids), 1000):
        q = (
            select(BulkAction)
            .join(Command, Command.bulk_id == BulkAction.id)
            .where(
                Command.terminal_id.in_(ids[part : part + 1000]),
                BulkAction.name == RemoteCommand.UPDATE.value,
                BulkAction.state.in_(LIVE),
            )
            .distinct()
        )
        for bulk in session.scalars(q):
            found[bulk.id] = bulk
    return sorted(found.values(), key=lambda b: b.id, reverse=True)
