"""Turn diagnosis decisions into incidents: open (deduplicated per rule and scope), extend,
swallow per-terminal incidents into a group one, resolve on the clear condition, and issue the
rule's remote commands when an incident opens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from posguard.catalog.model import Entry, Severity
from posguard.fleet.db.models import Incident, IncidentEvent
from posguard.fleet.diagnosis.evidence import MAX_MEMBERS, bounded
from posguard.fleet.diagnosis.observed import Clear, Decision, Open
from posguard.fleet.diagnosis.rules import Rule, RuleKind
from posguard.fleet.incident_burst import Burst
from posguard.fleet.incident_clears import record_clear
from posguard.fleet.repo import commands as command_repo
from posguard.fleet.repo import terminals as terminal_repo
from posguard.fleet.repo.incidents import IncidentStatus, find_open, merge, open_key, resolve


@dataclass(frozen=True, slots=True)
class Applied:
    opened: list[int]
    extended: list[int]
    resolved: list[int]
    commands: list[str]


def explanation(rule: Rule, decision: Open, entry: Entry | None) -> dict[str, Any]:
    """Why this incident exists: the rule, the events that matched, the catalog entry; within
    the bounds of :mod:`posguard.fleet.diagnosis.evidence`."""
    return bounded(
        {
            "rule_id": rule.id,
            "rule_kind": rule.kind.value,
            "rule_description": rule.description,
            "reason": decision.reason,
            "events": [e.ref() for e in decision.events],
            "members": list(decision.members),
            "catalog": None
            if entry is None
            else {
                "code": entry.code,
                "category": entry.category.value,
                "severity": entry.severity.value,
                "title": {"zh": entry.title.zh, "en": entry.title.en},
            },
        }
    )


def _link(session: Session, incident_id: int, event_ids: Sequence[int]) -> None:
    # id 0: a heartbeat known from terminal_liveness only (no events row to link)
    rows = [{"incident_id": incident_id, "event_id": i} for i in dict.fromkeys(event_ids) if i > 0]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    pg = dialect == "postgresql"
    ins = postgresql.insert(IncidentEvent) if pg else sqlite.insert(IncidentEvent)
    session.execute(ins.values(rows).on_conflict_do_nothing())


class IncidentApplier:
    def __init__(self, *, rules: Mapping[str, Rule], catalog: Mapping[str, Entry]) -> None:
        self.rules = rules
        self.catalog = catalog

    def apply(
        self, session: Session, decisions: Sequence[Decision], *, now: datetime | None = None
    ) -> Applied:
        """Apply ``decisions``; ``now`` is the detection time stored beside the event time
        (``detected_at`` of the incidents opened and of the commands issued; default: the
        decision's own time)."""
        result = Applied([], [], [], [])
        burst = Burst(self, session, decisions)
        for d in decisions:
            detected_at = d.at if now is None else now
            if isinstance(d, Open) and burst.plain(d):
                burst.add(d, detected_at, result)
                continue
            if isinstance(d, Open) and burst.extendable(d):
                burst.extend(d, result)
                continue
            if isinstance(d, Clear) and burst.clearable(d):
                burst.clear(d)
                continue
            burst.flush(result)  # keep the order: what came before is written first
            if isinstance(d, Open):
                self.open_one(session, d, result, detected_at=detected_at)
            else:
                self._clear(session, d, result)
            burst.touch(d)
        burst.flush(result)
        return result

    def apply_one_by_one(
        self, session: Session, decisions: Sequence[Decision], *, now: datetime | None = None
    ) -> Applied:
        """Apply ``decisions`` one at a time, with no batching (the reference ``apply`` is
        checked against, and the fallback when a batch meets a concurrent diagnoser)."""
        result = Applied([], [], [], [])
        for d in decisions:
            if isinstance(d, Open):
                self.open_one(session, d, result, detected_at=d.at if now is None else now)
            else:
                self._clear(session, d, result)
        return result

    def explain(self, rule: Rule, decision: Open, entry: Entry | None) -> dict[str, Any]:
        return explanation(rule, decision, entry)

    def severity(self, rule: Rule, entry: Entry | None) -> str:
        sev = entry.severity if entry else Severity.MAJOR
        if rule.kind is RuleKind.CORRELATION and sev.rank < Severity.CRITICAL.rank:
            # a whole host or area down is one step worse than one terminal with the fault
            sev = next(s for s in Severity if s.rank == sev.rank + 1)
        return sev.value

    def _extend(self, session: Session, existing: Incident, rule: Rule, d: Open) -> None:
        _link(session, existing.id, [e.id for e in d.events])
        if d.members:  # the affected-terminal list is live: terminals that joined later
            known = list(existing.explanation.get("members", []))
            new = [m for m in d.members if m not in known][: max(0, MAX_MEMBERS - len(known))]
            if new:
                existing.explanation = {**existing.explanation, "members": known + new}
            self._swallow(session, existing, rule, d.members, at=d.at)

    def open_one(
        self, session: Session, d: Open, result: Applied, *, detected_at: datetime
    ) -> None:
        rule = self.rules[d.rule_id]
        existing = find_open(session, rule_id=d.rule_id, scope=d.scope)
        if existing is not None:
            self._extend(session, existing, rule, d)
            result.extended.append(existing.id)
            return
        cause_key = d.cause_key() if d.cause else None
        if cause_key is not None and session.scalar(
            select(Incident.id).where(Incident.cause_key == cause_key)
        ):
            return  # this cause was decided already (and closed since): never open it twice
        entry = self.catalog.get(d.code)
        incident = Incident(
            rule_id=d.rule_id,
            scope=d.scope,
            open_key=open_key(d.rule_id, d.scope),
            cause_key=cause_key,
            code=d.code,
            severity=self.severity(rule, entry),
            status=IncidentStatus.OPEN.value,
            terminal_id=d.terminal_id,
            merchant_id=d.merchant_id,
            explanation=explanation(rule, d, entry),
            opened_at=d.at,
            detected_at=detected_at,
        )
        if session.get_bind().dialect.name != "postgresql":
            # no savepoint on SQLite: pysqlite begins the transaction at the first write, so a
            # savepoint before any write would begin it and its release commit it, half a step
            # (one writer at a time there: a conflict fails the step, replayed whole)
            session.add(incident)
            session.flush()
        else:
            try:
                with session.begin_nested():
                    session.add(incident)
                    session.flush()
            except IntegrityError:  # opened concurrently by another diagnoser: extend it
                existing = find_open(session, rule_id=d.rule_id, scope=d.scope)
                if existing is not None:
                    self._extend(session, existing, rule, d)
                    result.extended.append(existing.id)
                return
        _link(session, incident.id, [e.id for e in d.events])
        result.opened.append(incident.id)
        if d.members:
            self._swallow(session, incident, rule, d.members, at=d.at)
        if d.terminal_id is not None and rule.actions:
            terminal = terminal_repo.get_terminal(session, terminal_id=d.terminal_id)
            if terminal is not None:
                for action in rule.actions:
                    cmd = command_repo.issue_command(
                        session,
                        terminal=terminal,
                        name=action.name,
                        args=dict(action.args),
                        issued_by=f"rule:{rule.id}",
                        now=d.at,
                        detected_at=detected_at,
                        incident_id=incident.id,
                    )
                    result.commands.append(cmd.id)

    def _swallow(
        self,
        session: Session,
        parent: Incident,
        rule: Rule,
        members: Sequence[str],
        *,
        at: datetime,
    ) -> None:
        """Merge the members' open incidents of the rule's category into ``parent``. A child
        closes when it is merged (``at``), never before it opened."""
        if parent.scope.startswith("issuer:"):
            return  # an issuer outage is about cards, not terminals: nothing of theirs merges
        q = select(Incident).where(
            Incident.terminal_id.in_(list(members)),
            Incident.open_key.is_not(None),
        )
        for child in session.scalars(q):
            if self.swallows(rule, child):
                merge(child, parent, at)
        session.flush()

    def sweep(self, session: Session, *, now: datetime) -> None:
        """Merge into each open group incident its members' per-terminal incidents of its
        category that are still open. A shard learns of a group incident at its next step, so
        it can open one for a member between the correlator's commit and that step; the
        correlator sweeps every step, so such an incident does not stay open beside the group
        one until the terminal's next failure (which may never come)."""
        parents = session.scalars(
            select(Incident).where(
                Incident.open_key.is_not(None),
                Incident.terminal_id.is_(None),
                Incident.scope.not_like("issuer:%"),
            )
        ).all()
        for parent in parents:
            rule = self.rules.get(parent.rule_id)
            members = list(parent.explanation.get("members") or [])
            if rule is not None and members:
                self._swallow(session, parent, rule, members, at=now)

    def swallows(self, rule: Rule, child: Incident) -> bool:
        """Whether a group incident of ``rule`` swallows this open per-terminal incident."""
        match = rule.create.match
        if match is not None and match.code is not None:
            return child.code == match.code
        if match is not None and match.category is not None:
            entry = self.catalog.get(child.code)
            return entry is not None and entry.category is match.category
        return True

    def _clear(self, session: Session, d: Clear, result: Applied) -> None:
        incident = find_open(session, rule_id=d.rule_id, scope=d.scope)
        if incident is None:
            return
        resolve(session, incident=incident, by="rule", now=d.at)
        record_clear(session, incident, d)
        result.resolved.append(incident.id)
