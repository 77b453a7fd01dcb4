"""The diagnosis engine: runs every rule over stored events and the passing of time.

It is pure (no database): it takes :class:`Observed` events and a clock, and returns
:class:`Open` / :class:`Clear` decisions, each with the rule, the matched events and a reason;
``posguard.fleet.incidents`` turns them into incidents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from posguard.catalog.model import Category, Entry
from posguard.fleet.clock import Clock
from posguard.fleet.diagnosis.correlation import CorrelationEvaluator
from posguard.fleet.diagnosis.directory import TerminalDirectory
from posguard.fleet.diagnosis.kinds import KINDS, Evaluator
from posguard.fleet.diagnosis.observed import Decision, Observed, Open
from posguard.fleet.diagnosis.rules import Match, Rule, RuleKind


class DiagnosisEngine:
    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        catalog: Mapping[str, Entry],
        clock: Clock,
        directory: TerminalDirectory,
        default_heartbeat_s: float = 60.0,
        per_terminal: bool = True,
        correlate: bool = True,
    ) -> None:
        self.per_terminal = per_terminal  # run the per-terminal rules (a shard)
        self.correlate = correlate  # run the fleet-wide rules (the correlator)
        self.rules = {r.id: r for r in rules}
        self.catalog = catalog
        self.clock = clock
        self.directory = directory
        self.correlations = [
            CorrelationEvaluator(r, self.matches, directory)
            for r in rules
            if r.kind is RuleKind.CORRELATION
        ]
        self.evaluators: list[Evaluator] = [
            KINDS[r.kind](r, self.matches, default_heartbeat_s)
            for r in rules
            if r.kind is not RuleKind.CORRELATION
        ]
        self._rule_category = {r.id: self._category_of(r) for r in rules}
        # A per-terminal incident is folded into a group incident only when a correlation rule
        # of the *same* category covers its terminal: a host-wide network outage swallows the
        # terminals' network incidents, not their printer or issuer ones.
        self._swallowing: dict[Category, list[CorrelationEvaluator]] = {}
        for corr in self.correlations:
            category = self._rule_category.get(corr.rule.id)
            if category is not None:
                self._swallowing.setdefault(category, []).append(corr)

    def _category_of(self, rule: Rule) -> Category | None:
        m = rule.create.match
        if m is not None and m.category is not None:
            return m.category
        entry = self.catalog.get(rule.code)
        return entry.category if entry else None

    def matches(self, match: Match | None, ev: Observed) -> bool:
        if match is None:
            return False
        if match.kind is not None and match.kind != ev.kind:
            return False
        if match.code is not None and match.code != ev.code:
            return False
        if match.category is not None:
            entry = self.catalog.get(ev.code) if ev.code else None
            if entry is None or entry.category is not match.category:
                return False
        return True

    def seed_open(self, *, rule_id: str, scope: str, last: datetime | None = None) -> None:
        """Tell the engine a group incident is open (after a restart), so it keeps swallowing."""
        for corr in self.correlations:
            if corr.rule.id == rule_id:
                corr.seed_open(scope, last)

    def sync(
        self, open_now: Mapping[str, Mapping[str, datetime]], *, replayed: bool = False
    ) -> None:
        """After a warm-up replay, align every rule with the incidents the database has open:
        ``rule_id -> scope -> latest evidence``. What the database recorded is what was decided;
        the replay only rebuilt windows and timers (``replayed``: a group's newest matching
        event replayed counts as evidence too, see :meth:`CorrelationEvaluator.sync`)."""
        for corr in self.correlations:
            corr.sync(dict(open_now.get(corr.rule.id, {})), replayed=replayed)
        for ev_out in self.evaluators:
            scopes = open_now.get(ev_out.rule.id, {})
            ev_out.sync(
                {
                    s.removeprefix("terminal:"): t
                    for s, t in scopes.items()
                    if s.startswith("terminal:")
                }
            )

    def grace(self, now: datetime, down_s: float) -> None:
        """The service was down ``down_s`` seconds: absence deadlines move by that much."""
        for ev_out in self.evaluators:
            ev_out.grace(now, down_s)

    def observe(self, events: Iterable[Observed]) -> list[Decision]:
        """Run the rules over a batch of newly stored events (fleet-wide rules first)."""
        batch = list(events)
        out: list[Decision] = []
        if self.correlate:
            for corr in self.correlations:
                for ev in batch:
                    out.extend(corr.observe(ev))
        if self.per_terminal:
            for ev in batch:
                for ev_out in self.evaluators:
                    out.extend(self._filter(ev_out.observe(ev)))
        return out

    def sync_groups(self, open_now: Mapping[str, Mapping[str, datetime]]) -> None:
        """A shard that does not correlate: learn which group incidents the correlator has
        open, so per-terminal incidents they cover are not opened beside them."""
        for corr in self.correlations:
            corr.sync(dict(open_now.get(corr.rule.id, {})))

    def tick(self, at: datetime | None = None) -> list[Decision]:
        """Evaluate the time-based conditions (duration, absence, quiet clears) at ``at``
        (default clock.now(); a warm-up replay ticks at the replayed events' time)."""
        now = self.clock.now() if at is None else at
        out: list[Decision] = []
        if self.correlate:
            for corr in self.correlations:
                out.extend(corr.tick(now))
        if self.per_terminal:
            for ev_out in self.evaluators:
                out.extend(self._filter(ev_out.tick(now)))
        return out

    def _filter(self, decisions: list[Decision]) -> list[Decision]:
        if not self._swallowing:
            return decisions
        kept: list[Decision] = []
        for d in decisions:
            if isinstance(d, Open) and d.terminal_id is not None:
                category = self._rule_category.get(d.rule_id)
                groups = self._swallowing.get(category) if category is not None else None
                if groups and any(c.covered(d.terminal_id) for c in groups):
                    continue  # the group incident covering this terminal already has these events
            kept.append(d)
        return kept
