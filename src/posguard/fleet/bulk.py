"""Bulk actions: one remote command to a group of terminals, with one confirmation.

Each terminal gets an ordinary command through ``repo.commands.issue_command`` (the same path,
expiry and delivery as a single command), tagged with the bulk action's id; a terminal that
cannot run the command (``capabilities``) gets none and is listed as skipped. Progress is read
from those command rows as the terminals answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from posguard.common.commands import COMMANDS, RemoteCommand
from posguard.fleet import bulk_stages, capabilities
from posguard.fleet.db.models import BulkAction, Command, Terminal
from posguard.fleet.repo import commands as command_repo

MAX_TERMINALS = 10_000
"""A bigger group is refused: narrow the filter, or send in parts (a staged rollout's job)."""

BULK_COMMANDS: tuple[RemoteCommand, ...] = tuple(
    c
    for c in RemoteCommand
    if not COMMANDS[c].args
    or c in (RemoteCommand.REPRINT, RemoteCommand.UPDATE, RemoteCommand.UPDATE_CONFIG)
)
"""Commands a bulk action offers: those that need no arguments, ``reprint``, ``update`` (its
arguments come from the firmware package chosen) and ``update_config`` (a parameter push: its
arguments are the parameters picked, :mod:`posguard.fleet.config_params`)."""

PROGRESS_ROWS = 500


class TooManyTerminalsError(ValueError):
    def __init__(self, count: int) -> None:
        super().__init__(f"{count} terminals selected; a bulk action takes at most {MAX_TERMINALS}")
        self.count = count


@dataclass(frozen=True, slots=True)
class Plan:
    name: RemoteCommand
    send_to: Sequence[Terminal]
    skipped: Sequence[str]  # terminal ids that cannot run it


def offers(session: Session, terminals: Sequence[Terminal]) -> dict[RemoteCommand, int]:
    """How many of these terminals can run each bulk command."""
    caps = capabilities.of_terminals(session, (t.id for t in terminals))
    return {
        c: sum(1 for t in terminals if capabilities.can_run(caps.get(t.id), c))
        for c in BULK_COMMANDS
    }


def plan(
    session: Session,
    terminals: Sequence[Terminal],
    name: RemoteCommand,
    *,
    models: Collection[str] | None = None,
) -> Plan:
    """Who gets the command: the terminals that can run it (and, for an ``update``, whose
    model the package is made for: ``models``); the others are skipped."""
    if len(terminals) > MAX_TERMINALS:
        raise TooManyTerminalsError(len(terminals))
    caps = capabilities.of_terminals(session, (t.id for t in terminals))

    def fits(t: Terminal) -> bool:
        return capabilities.can_run(caps.get(t.id), name) and (models is None or t.model in models)

    send = [t for t in terminals if fits(t)]
    skipped = [t.id for t in terminals if not fits(t)]
    return Plan(name, send, skipped)


def send(
    session: Session,
    *,
    planned: Plan,
    selection: Mapping[str, Any],
    username: str,
    now: datetime,
    incident_id: int | None = None,
    first_pct: float | None = None,
    first_terminals: Sequence[str] = (),
    max_failure: float | None = None,
    args: Mapping[str, Any] | None = None,
) -> BulkAction:
    """Record the bulk action and queue one command per terminal that can run it: all at
    once, or (``first_pct`` or the listed ``first_terminals``) a first stage now and the rest
    when released (:mod:`posguard.fleet.bulk_stages`; ``max_failure``: pause above this
    failure rate). A listed terminal the action is not sent to refuses it
    (``StageRefusedError``) before anything is recorded."""
    ids = [t.id for t in planned.send_to]
    if first_terminals:
        bulk_stages.check_first(first_terminals, ids)
    stages = bulk_stages.split(ids, first_pct, first=first_terminals)
    bulk = BulkAction(
        name=planned.name.value,
        args=dict(args or {}),
        selection=dict(selection),
        incident_id=incident_id,
        created_by=username,
        created_at=now,
        sent=0,
        skipped=list(planned.skipped),
        plan=stages,
        released=0,
        state=bulk_stages.StageState.RUNNING.value,
        max_failure=max_failure,
    )
    session.add(bulk)
    session.flush()
    first = set(stages[0])
    bulk_stages.issue_stage(
        session, bulk, [t for t in planned.send_to if t.id in first], username=username, now=now
    )
    return bulk


@dataclass(frozen=True, slots=True)
class Progress:
    bulk: BulkAction
    counts: Mapping[str, int]  # command status -> terminals
    rows: Sequence[Command]  # answered first (newest answer first), then the waiting ones

    @property
    def answered(self) -> int:
        return sum(n for s, n in self.counts.items() if s not in command_repo.OPEN_STATUSES)

    stages: Sequence[bulk_stages.StageStat] = ()

    @property
    def done(self) -> bool:
        """Nothing more to wait for: every stage released (or stopped) and answered."""
        released_all = self.bulk.released >= len(self.bulk.plan)
        return self.answered >= self.bulk.sent and (
            released_all or self.bulk.state == bulk_stages.StageState.STOPPED.value
        )

    @property
    def waiting(self) -> bool:
        """Answers are still due (the page polls while this holds)."""
        return self.answered < self.bulk.sent


def progress(session: Session, *, bulk_id: int) -> Progress | None:
    bulk = session.get(BulkAction, bulk_id)
    if bulk is None:
        return None
    counts = Counter(
        dict(
            session.execute(
                select(Command.status, func.count())
                .where(Command.bulk_id == bulk_id)
                .group_by(Command.status)
            ).all()
        )
    )
    rows = session.scalars(
        select(Command)
        .where(Command.bulk_id == bulk_id)
        .order_by(Command.completed_at.is_(None), Command.completed_at.desc(), Command.terminal_id)
        .limit(PROGRESS_ROWS)
    ).all()
    return Progress(bulk, dict(counts), rows, bulk_stages.evaluate(session, bulk))


def recent(session: Session, *, limit: int = 20) -> Sequence[BulkAction]:
    return session.scalars(select(BulkAction).order_by(BulkAction.id.desc()).limit(limit)).all()
