"""Staged bulk actions: a first share of the terminals (a percentage, or a list of terminals),
then the rest once someone releases it.

The staging a rollout needs, over any bulk command (a ``rollback`` across a model after a bad
firmware, a ``re_sign_on`` across a host): the first stage gets its commands at once; the
failure rate of each stage is measured from the terminals' answers; a stage whose answered
commands fail more often than ``max_failure`` pauses the action by itself; the next stage
goes out only when released (a paused action only when released anyway, on purpose);
stopping expires the commands not yet taken.

>>> split(["T1", "T2", "T3", "T4", "T5"], 20)
[['T1'], ['T2', 'T3', 'T4', 'T5']]
>>> split(["T1", "T2"], None), split(["T1"], 50)
([['T1', 'T2']], [['T1']])
>>> split(["T1", "T2", "T3"], None, first=["T3", "T1"])
[['T1', 'T3'], ['T2']]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from posguard.common.commands import RemoteCommand
from posguard.common.update_package import FAILED as UPDATE_FAILED
from posguard.fleet.db.models import BulkAction, Command, EventRow, Terminal
from posguard.fleet.repo import commands as command_repo
from posguard.fleet.repo.commands import CommandStatus


class StageState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # a stage failed above the threshold: released only on purpose
    STOPPED = "stopped"
    DONE = "done"  # every stage released


class StageRefusedError(ValueError):
    pass


def split(
    terminal_ids: Sequence[str], first_pct: float | None, *, first: Sequence[str] = ()
) -> list[list[str]]:
    """One stage (``first_pct`` None or 100), or a first ``first_pct`` % (at least one) then
    the rest; or the terminals ``first`` names first (in the selection's order), then the rest
    (:func:`check_first` says whether ``first`` fits)."""
    ids = list(terminal_ids)
    if first:
        chosen = set(first)
        head, rest = [t for t in ids if t in chosen], [t for t in ids if t not in chosen]
        return [head, rest] if rest else [head]
    if first_pct is None or first_pct >= 100 or len(ids) < 2:
        return [ids]
    size = min(max(1, math.ceil(len(ids) * first_pct / 100)), len(ids) - 1)
    return [ids[:size], ids[size:]]


MAX_LISTED_FIRST = 1000


def check_first(first: Sequence[str], terminal_ids: Sequence[str]) -> None:
    """A first stage given as a list must name only terminals the action is sent to (not one
    skipped or outside the selection); :class:`StageRefusedError` names the strays."""
    if len(first) > MAX_LISTED_FIRST:
        raise StageRefusedError(f"first stage: at most {MAX_LISTED_FIRST} terminals")
    sent = set(terminal_ids)
    strays = [t for t in dict.fromkeys(first) if t not in sent]
    if strays:
        named = ", ".join(strays[:5]) + (f" and {len(strays) - 5} more" if len(strays) > 5 else "")
        raise StageRefusedError(
            f"first stage: {named} not among the {len(sent)} terminals this action is sent to"
        )


@dataclass(frozen=True, slots=True)
class StageStat:
    index: int
    size: int
    released: bool
    answered: int
    failed: int

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.answered if self.answered else None


FAILED = (CommandStatus.FAILED.value, CommandStatus.EXPIRED.value)


def stats(bulk: BulkAction, statuses: Mapping[str, str]) -> list[StageStat]:
    """Per stage: its size, whether released, answers and failures (``statuses``: terminal ->
    its command's status; an expired command counts as failed: it never answered)."""
    out = []
    for i, stage in enumerate(bulk.plan):
        seen = [statuses[t] for t in stage if t in statuses]
        answered = [s for s in seen if s not in command_repo.OPEN_STATUSES]
        out.append(
            StageStat(
                i, len(stage), i < bulk.released, len(answered), sum(s in FAILED for s in answered)
            )
        )
    return out


def statuses_of(session: Session, bulk: BulkAction) -> dict[str, str]:
    """terminal -> its command's status; for an ``update``, a terminal that reported
    ``SW.UPDATE_FAILED`` after the rollout began (a failed check, or the watchdog rolling the
    new version back within its probation) counts as failed whatever its answer said."""
    found = dict(
        session.execute(
            select(Command.terminal_id, Command.status).where(Command.bulk_id == bulk.id)
        ).all()
    )
    if bulk.name == RemoteCommand.UPDATE.value:
        for tid in update_failures(session, bulk, list(found)):
            found[tid] = CommandStatus.FAILED.value
    return found


def update_failures(session: Session, bulk: BulkAction, terminal_ids: Sequence[str]) -> set[str]:
    """The terminals among ``terminal_ids`` that reported ``SW.UPDATE_FAILED`` for this
    rollout's version since it was created."""
    version = bulk.args.get("version")
    out: set[str] = set()
    for part in range(0, len(terminal_ids), 1000):
        rows = session.execute(
            select(EventRow.terminal_id, EventRow.data).where(
                EventRow.terminal_id.in_(terminal_ids[part : part + 1000]),
                EventRow.code == UPDATE_FAILED,
                # ts bounds the partitions read (a day's slack for terminal clocks)
                EventRow.ts >= bulk.created_at - timedelta(days=1),
                EventRow.received_at >= bulk.created_at,
            )
        )
        for tid, data in rows:
            to_version = data.get("to_version") if isinstance(data, dict) else None
            if version is None or to_version in (None, version):
                out.add(tid)
    return out


def evaluate(session: Session, bulk: BulkAction) -> list[StageStat]:
    """The stages' figures; a running action whose released stages fail above its threshold
    is paused here (the progress view calls this each time it is read)."""
    found = stats(bulk, statuses_of(session, bulk))
    if bulk.state == StageState.RUNNING.value and bulk.max_failure is not None:
        for st in found[: bulk.released]:
            rate = st.failure_rate
            if rate is not None and rate > bulk.max_failure:
                bulk.state = StageState.PAUSED.value
                session.flush()
                break
    return found


def issue_stage(
    session: Session,
    bulk: BulkAction,
    terminals: Sequence[Terminal],
    *,
    username: str,
    now: datetime,
) -> None:
    for terminal in terminals:
        command_repo.issue_command(
            session,
            terminal=terminal,
            name=bulk.name,
            args=dict(bulk.args),
            issued_by=f"user:{username}",
            now=now,
            incident_id=bulk.incident_id,
            bulk_id=bulk.id,
            flush=False,
        )
    bulk.sent += len(terminals)
    bulk.released += 1
    bulk.state = (
        StageState.DONE.value if bulk.released >= len(bulk.plan) else StageState.RUNNING.value
    )
    session.flush()


def release_next(
    session: Session, bulk: BulkAction, *, username: str, now: datetime, anyway: bool = False
) -> int:
    """Issue the next stage's commands; returns how many. A paused action needs ``anyway``."""
    if bulk.state in (StageState.STOPPED.value, StageState.DONE.value):
        raise StageRefusedError(f"bulk action {bulk.id} is {bulk.state}")
    evaluate(session, bulk)
    if bulk.state == StageState.PAUSED.value and not anyway:
        raise StageRefusedError(
            f"bulk action {bulk.id} paused: a stage failed above {bulk.max_failure:.0%}"
        )
    ids = bulk.plan[bulk.released]
    found = {t.id: t for t in session.scalars(select(Terminal).where(Terminal.id.in_(ids)))}
    terminals = [found[t] for t in ids if t in found]
    issue_stage(session, bulk, terminals, username=username, now=now)
    return len(terminals)


def pause(session: Session, bulk: BulkAction) -> bool:
    """Hold a running action (the bad-firmware incident's "stop the rollout"): no next stage
    until released on purpose; commands already sent still run. False when not running."""
    if bulk.state != StageState.RUNNING.value:
        return False
    bulk.state = StageState.PAUSED.value
    session.flush()
    return True


def stop(session: Session, bulk: BulkAction, *, username: str, now: datetime) -> int:
    """No further stage, and the commands not yet taken by their terminals expire (a fully
    released action can still have some)."""
    result = session.execute(
        update(Command)
        .where(Command.bulk_id == bulk.id, Command.status == CommandStatus.PENDING.value)
        .values(
            status=CommandStatus.EXPIRED.value,
            completed_at=now,
            result={"status": "expired", "detail": f"stopped by {username}"},
        )
    )
    bulk.state = StageState.STOPPED.value
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)
