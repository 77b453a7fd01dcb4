"""Fleet-wide correlation: when more than N% of one acquirer host's (or one area's, or one
model's) terminals hit matching faults within a window, open one group incident instead of one
per terminal (a host outage, a firewall change in an area, a bad firmware rollout on a model).

Groups are tried in the rule's ``group_by`` order; once a terminal is covered by an open group
incident, its events feed that incident and count for no other group, so one outage makes one
incident.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from posguard.fleet.diagnosis.directory import TerminalDirectory
from posguard.fleet.diagnosis.kinds import MAX_EVIDENCE, Matcher
from posguard.fleet.diagnosis.observed import Clear, Decision, Observed, Open
from posguard.fleet.diagnosis.rules import Rule

_PREFIX = {"acquirer_host": "host", "area": "area", "model": "model"}


@dataclass(slots=True)
class _Group:
    recent: dict[str, Observed] = field(default_factory=dict)  # terminal -> latest matching event
    open: bool = False
    last: datetime | None = None


class CorrelationEvaluator:
    def __init__(self, rule: Rule, matches: Matcher, directory: TerminalDirectory) -> None:
        self.rule = rule
        self.matches = matches
        self.directory = directory
        self.groups: dict[tuple[str, str], _Group] = {}

    def covered(self, terminal_id: str) -> str | None:
        """The scope of the open group incident covering this terminal, if any."""
        for dim in self.rule.create.group_by:
            value = self.directory.group_of(terminal_id, dim)
            if value is not None:
                g = self.groups.get((dim, value))
                if g is not None and g.open:
                    return f"{_PREFIX[dim]}:{value}"
        return None

    def seed_open(self, scope: str) -> None:
        prefix, _, value = scope.partition(":")
        for dim, p in _PREFIX.items():
            if p == prefix:
                self.groups.setdefault((dim, value), _Group()).open = True

    def observe(self, ev: Observed) -> list[Decision]:
        if not self.matches(self.rule.create.match, ev):
            return []
        c = self.rule.create
        assert c.within_s is not None
        assert c.threshold_pct is not None
        window = timedelta(seconds=c.within_s)
        for dim in c.group_by:
            value = self.directory.group_of(ev.terminal_id, dim)
            if value is None:
                continue
            key = (dim, value)
            g = self.groups.setdefault(key, _Group())
            g.recent[ev.terminal_id] = ev
            start = ev.ts - window
            for tid in [t for t, e in g.recent.items() if e.ts < start]:
                del g.recent[tid]
            scope = f"{_PREFIX[dim]}:{value}"
            if g.open:
                g.last = ev.ts
                return [self._open(scope, (ev,), "more of the same while open", ev.ts, ())]
            size = self.directory.size(dim, value)
            hit = len(g.recent)
            if size and hit >= c.min_terminals and hit * 100.0 > c.threshold_pct * size:
                g.open, g.last = True, ev.ts
                events = tuple(sorted(g.recent.values(), key=lambda e: (e.ts, e.id)))
                reason = (
                    f"{hit} of {size} terminals on {dim.replace('_', ' ')} {value} "
                    f"({hit * 100.0 / size:.0f}% > {c.threshold_pct:g}%) within {c.within_s:g} s"
                )
                return [self._open(scope, events, reason, ev.ts, tuple(sorted(g.recent)))]
        return []

    def _open(
        self,
        scope: str,
        events: tuple[Observed, ...],
        reason: str,
        at: datetime,
        members: tuple[str, ...],
    ) -> Open:
        codes = Counter(e.code for e in events if e.code)
        code = codes.most_common(1)[0][0] if codes else self.rule.code
        return Open(
            rule_id=self.rule.id,
            scope=scope,
            code=code,
            at=at,
            reason=reason,
            events=events[:MAX_EVIDENCE],
            members=members,
        )

    def tick(self, now: datetime) -> list[Decision]:
        quiet = self.rule.clear.quiet_s or self.rule.create.within_s or 300.0
        limit = now - timedelta(seconds=quiet)
        out: list[Decision] = []
        for (dim, value), g in self.groups.items():
            if g.open and (g.last is None or g.last <= limit):
                g.open = False
                g.recent.clear()
                out.append(
                    Clear(
                        rule_id=self.rule.id,
                        scope=f"{_PREFIX[dim]}:{value}",
                        at=now,
                        reason=f"no matching fault in the group for {quiet:g} s",
                    )
                )
        return out
