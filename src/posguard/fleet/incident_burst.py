"""Open a burst of incidents set-based: the new incidents of one diagnosis step are written with
a few statements for the whole batch instead of several round trips each.

A step at scale opens hundreds of incidents at once (1,500 paper-outs in one second at 10,000
terminals); one by one that is ~7 statements per incident. Here a batch costs:

- two look-ups for every decision of the step (which ``open_key`` is open, which ``cause_key``
  was decided already), instead of two per decision;
- one savepoint around one insert of all the new incidents: on PostgreSQL one
  ``INSERT .. SELECT FROM unnest(..) RETURNING id`` (:mod:`posguard.fleet.incident_insert`),
  on SQLite one ORM flush (a multi-row ``INSERT .. RETURNING id``); the notification hook
  (:mod:`posguard.fleet.notify.hook`) is told of them all at once either way;
- one multi-row insert of their ``incident_events`` links;
- one look-up of the terminals the rules send commands to, one flush of the commands and
  their audit entries.

Only "plain" opens go in a batch: no open incident for the key, no recorded decision for the
cause, no member list (group incidents swallow children: they keep the one-by-one path), and
no earlier decision of the step touching the same key. Anything else flushes the batch first
and is applied one by one in its place, so the order of decisions and their outcome are the
same as applying them one at a time. If the batch's insert meets a unique key another
diagnoser took meanwhile, its savepoint rolls back and the batch is applied one by one (which
extends or skips as before).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from posguard.fleet.db.models import Incident, Terminal
from posguard.fleet.diagnosis.observed import Clear, Decision, Open
from posguard.fleet.incident_clears import Clears
from posguard.fleet.incident_extend import Extends
from posguard.fleet.incident_insert import insert_opened
from posguard.fleet.incident_links import CHUNK, link_many
from posguard.fleet.repo import commands as command_repo
from posguard.fleet.repo.incidents import IncidentStatus, open_key

if TYPE_CHECKING:
    from posguard.fleet.incidents import Applied, IncidentApplier


def _existing(session: Session, column: Any, keys: set[str]) -> set[str]:
    found: set[str] = set()
    wanted = sorted(keys)
    for chunk in range(0, len(wanted), CHUNK):
        part = wanted[chunk : chunk + CHUNK]
        found.update(session.scalars(select(column).where(column.in_(part))))
    return found


def _open_now(session: Session, keys: set[str]) -> dict[str, Incident]:
    found: dict[str, Incident] = {}
    wanted = sorted(keys)
    for chunk in range(0, len(wanted), CHUNK):
        part = wanted[chunk : chunk + CHUNK]
        for inc in session.scalars(select(Incident).where(Incident.open_key.in_(part))):
            found[inc.open_key or ""] = inc
    return found


class Burst:
    """The plain opens and the extensions of one step, written together (see the module's
    docstring and :mod:`posguard.fleet.incident_extend`)."""

    def __init__(
        self, applier: IncidentApplier, session: Session, decisions: Sequence[Decision]
    ) -> None:
        self.applier = applier
        self.session = session
        opens = [d for d in decisions if isinstance(d, Open)]
        keys = {open_key(d.rule_id, d.scope) for d in decisions}
        causes = {d.cause_key() for d in opens if d.cause and not d.members}
        self.open_now = _open_now(session, keys) if keys else {}
        self.taken = set(self.open_now)
        self.decided = _existing(session, Incident.cause_key, causes) if causes else set()
        self.touched: set[str] = set()  # keys an earlier decision of this step may have changed
        self.pending: list[tuple[Open, datetime]] = []
        self.extends = Extends(applier, session)
        self.clears = Clears(session)
        self._keys: set[str] = set()
        self._causes: set[str] = set()

    def extendable(self, d: Decision) -> bool:
        """An incident open before the step, untouched by it, and no pending extension may
        swallow the decision's own terminal."""
        if not isinstance(d, Open):
            return False
        key = open_key(d.rule_id, d.scope)
        inc = self.open_now.get(key)
        if inc is None or inc.open_key != key or key in self.touched or key in self.clears.keys:
            return False
        return d.terminal_id is None or d.terminal_id not in self.extends.members

    def extend(self, d: Open, result: Applied) -> None:
        if any(p.terminal_id in d.members for p, _ in self.pending) or any(
            m in self.clears.terminals for m in d.members
        ):
            self.flush(result)  # opened or cleared before this extension: it may swallow them
        self.extends.add(self.open_now[open_key(d.rule_id, d.scope)], d)

    def clearable(self, d: Decision) -> bool:
        """A clear of an incident open before the step, untouched by it, not cleared yet."""
        if not isinstance(d, Clear):
            return False
        key = open_key(d.rule_id, d.scope)
        inc = self.open_now.get(key)
        if inc is None or inc.open_key != key or key in self.touched:
            return False
        return key not in self.clears.keys and key not in self._keys

    def clear(self, d: Clear) -> None:
        self.clears.add(self.open_now[open_key(d.rule_id, d.scope)], d)

    def plain(self, d: Decision) -> bool:
        if not isinstance(d, Open) or d.members:
            return False
        key = open_key(d.rule_id, d.scope)
        if key in self.taken or key in self.touched or key in self._keys:
            return False
        cause = d.cause_key() if d.cause else None
        return cause is None or (cause not in self.decided and cause not in self._causes)

    def add(self, d: Open, detected_at: datetime, result: Applied) -> None:
        if d.terminal_id is not None and d.terminal_id in self.extends.members:
            self.flush(result)  # a pending extension must not swallow what opens after it
        self.pending.append((d, detected_at))
        self._keys.add(open_key(d.rule_id, d.scope))
        if d.cause:
            self._causes.add(d.cause_key())

    def touch(self, d: Decision) -> None:
        """``d`` was applied one by one: later decisions on its key are too."""
        self.touched.add(open_key(d.rule_id, d.scope))

    def flush(self, result: Applied) -> None:
        """Write the pending opens, then the pending extensions, then the pending clears (into
        ``result``), then start a new batch."""
        pending, self.pending = self.pending, []
        self.touched |= self._keys
        self._keys, self._causes = set(), set()
        if pending:
            self._open(pending, result)
        self.extends.flush(result)
        self.clears.flush(result)

    def _open(self, pending: list[tuple[Open, datetime]], result: Applied) -> None:
        incidents = [self._incident(d, detected_at) for d, detected_at in pending]
        if self.session.get_bind().dialect.name != "postgresql":
            # SQLite has one writer at a time, and pysqlite outside a transaction would commit
            # at a savepoint's release: no savepoint (a conflict fails the step, which is
            # restarted and replayed)
            self.session.add_all(incidents)
            self.session.flush()
        else:
            try:
                with self.session.begin_nested():
                    insert_opened(self.session, incidents)
            except IntegrityError:  # another diagnoser opened one of them meanwhile
                self._one_by_one(pending, result)
                return
        link_many(
            self.session,
            (
                (inc.id, [e.id for e in d.events])
                for inc, (d, _) in zip(incidents, pending, strict=True)
            ),
        )
        result.opened.extend(inc.id for inc in incidents)
        self._commands(incidents, pending, result)

    def _one_by_one(self, pending: list[tuple[Open, datetime]], result: Applied) -> None:
        for d, detected_at in pending:
            self.applier.open_one(self.session, d, result, detected_at=detected_at)

    def _incident(self, d: Open, detected_at: datetime) -> Incident:
        rule = self.applier.rules[d.rule_id]
        entry = self.applier.catalog.get(d.code)
        return Incident(
            rule_id=d.rule_id,
            scope=d.scope,
            open_key=open_key(d.rule_id, d.scope),
            cause_key=d.cause_key() if d.cause else None,
            code=d.code,
            severity=self.applier.severity(rule, entry),
            status=IncidentStatus.OPEN.value,
            terminal_id=d.terminal_id,
            merchant_id=d.merchant_id,
            explanation=self.applier.explain(rule, d, entry),
            opened_at=d.at,
            detected_at=detected_at,
        )

    def _commands(
        self, incidents: list[Incident], pending: list[tuple[Open, datetime]], result: Applied
    ) -> None:
        wanted = [
            (inc, d, detected_at)
            for inc, (d, detected_at) in zip(incidents, pending, strict=True)
            if d.terminal_id is not None and self.applier.rules[d.rule_id].actions
        ]
        if not wanted:
            return
        ids = sorted({d.terminal_id for _, d, _ in wanted if d.terminal_id is not None})
        terminals: dict[str, Terminal] = {}
        for chunk in range(0, len(ids), CHUNK):
            part = ids[chunk : chunk + CHUNK]
            found = self.session.scalars(select(Terminal).where(Terminal.id.in_(part)))
            terminals.update((t.id, t) for t in found)
        for inc, d, detected_at in wanted:
            terminal = terminals.get(d.terminal_id or "")
            if terminal is None:
                continue
            rule = self.applier.rules[d.rule_id]
            for action in rule.actions:
                cmd = command_repo.issue_command(
                    self.session,
                    terminal=terminal,
                    name=action.name,
                    args=dict(action.args),
                    issued_by=f"rule:{rule.id}",
                    now=d.at,
                    detected_at=detected_at,
                    incident_id=inc.id,
                    flush=False,
                )
                result.commands.append(cmd.id)
        self.session.flush()
