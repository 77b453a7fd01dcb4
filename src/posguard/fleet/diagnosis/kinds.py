"""Per-terminal rule kinds, registered by short name: simple, duration, repeating, absence.

Each evaluator holds its own in-memory state per terminal and turns events (``observe``) and
the passing of time (``tick``) into :class:`Open` / :class:`Clear` decisions. Event windows use
the events' own timestamps; ``tick(now)`` uses the injected clock.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from posguard.fleet.diagnosis.observed import Clear, Decision, Observed, Open
from posguard.fleet.diagnosis.rules import Match, Rule, RuleKind

Matcher = Callable[[Match | None, Observed], bool]
MAX_EVIDENCE = 20  # events kept per incident explanation


def _scope(terminal_id: str) -> str:
    return f"terminal:{terminal_id}"


class Evaluator:
    """Base of the per-terminal kinds."""

    def __init__(self, rule: Rule, matches: Matcher, default_interval_s: float) -> None:
        self.rule = rule
        self.matches = matches
        self.default_interval_s = default_interval_s

    def observe(self, ev: Observed) -> list[Decision]:
        raise NotImplementedError

    def tick(self, now: datetime) -> list[Decision]:
        return []

    def _open(self, ev: Observed, events: tuple[Observed, ...], reason: str, at: datetime) -> Open:
        return Open(
            rule_id=self.rule.id,
            scope=_scope(ev.terminal_id),
            code=self.rule.code,
            at=at,
            reason=reason,
            events=events[-MAX_EVIDENCE:],
            terminal_id=ev.terminal_id,
            merchant_id=ev.merchant_id,
        )

    def _clear(self, terminal_id: str, at: datetime, reason: str) -> Clear:
        return Clear(rule_id=self.rule.id, scope=_scope(terminal_id), at=at, reason=reason)


@dataclass(slots=True)
class _Quiet:
    """An open incident that clears after ``quiet_s`` without a create match."""

    last: datetime
    first: Observed


class QuietClearing(Evaluator):
    """Shared clear handling: a clear match, or quiet_s without a create match."""

    def __init__(self, rule: Rule, matches: Matcher, default_interval_s: float) -> None:
        super().__init__(rule, matches, default_interval_s)
        self.open: dict[str, _Quiet] = {}

    def _maybe_clear(self, ev: Observed) -> list[Decision]:
        m = self.rule.clear.match
        if (
            m is not None
            and self.matches(m, ev)
            and self.open.pop(ev.terminal_id, None) is not None
        ):
            return [
                self._clear(
                    ev.terminal_id, ev.ts, f"clear event {ev.kind} {ev.code or ''} seq {ev.seq}"
                )
            ]
        return []

    def tick(self, now: datetime) -> list[Decision]:
        quiet = self.rule.clear.quiet_s
        if quiet is None:
            return []
        limit = now - timedelta(seconds=quiet)
        done = [tid for tid, st in self.open.items() if st.last <= limit]
        for tid in done:
            del self.open[tid]
        return [self._clear(tid, now, f"no matching event for {quiet:g} s") for tid in done]


class SimpleEvaluator(QuietClearing):
    """One event with the create match opens; a clear match (or quiet_s) clears."""

    def observe(self, ev: Observed) -> list[Decision]:
        if self.matches(self.rule.create.match, ev):
            self.open[ev.terminal_id] = _Quiet(last=ev.ts, first=ev)
            return [
                self._open(
                    ev, (ev,), f"event {ev.kind} {ev.code or ''} seq {ev.seq}".strip(), ev.ts
                )
            ]
        return self._maybe_clear(ev)


class RepeatingEvaluator(QuietClearing):
    """``count`` create matches within ``within_s`` open; a clear match (or quiet_s) clears."""

    def __init__(self, rule: Rule, matches: Matcher, default_interval_s: float) -> None:
        super().__init__(rule, matches, default_interval_s)
        self.windows: dict[str, deque[Observed]] = {}

    def observe(self, ev: Observed) -> list[Decision]:
        c = self.rule.create
        if not self.matches(c.match, ev):
            out = self._maybe_clear(ev)
            if out:
                self.windows.pop(ev.terminal_id, None)
            return out
        if ev.terminal_id in self.open:
            self.open[ev.terminal_id].last = ev.ts
            return [self._open(ev, (ev,), "repeat while open", ev.ts)]
        win = self.windows.setdefault(ev.terminal_id, deque())
        win.append(ev)
        assert c.within_s is not None
        start = ev.ts - timedelta(seconds=c.within_s)
        while win and win[0].ts < start:
            win.popleft()
        if len(win) < c.count:
            return []
        events = tuple(win)
        self.windows.pop(ev.terminal_id, None)
        self.open[ev.terminal_id] = _Quiet(last=ev.ts, first=events[0])
        reason = (
            f"{len(events)} x {ev.code or ev.kind} within {c.within_s:g} s (threshold {c.count})"
        )
        return [self._open(ev, events, reason, ev.ts)]


@dataclass(slots=True)
class _Pending:
    since: datetime
    events: list[Observed] = field(default_factory=list)
    opened: bool = False


class DurationEvaluator(Evaluator):
    """A state entered by a create match that persists ``for_s`` opens; a clear match ends it."""

    def __init__(self, rule: Rule, matches: Matcher, default_interval_s: float) -> None:
        super().__init__(rule, matches, default_interval_s)
        self.pending: dict[str, _Pending] = {}

    def observe(self, ev: Observed) -> list[Decision]:
        if self.matches(self.rule.create.match, ev):
            st = self.pending.get(ev.terminal_id)
            if st is None:
                self.pending[ev.terminal_id] = _Pending(since=ev.ts, events=[ev])
            elif len(st.events) < MAX_EVIDENCE:
                st.events.append(ev)
            return []
        if self.rule.clear.match is not None and self.matches(self.rule.clear.match, ev):
            st = self.pending.pop(ev.terminal_id, None)
            if st is not None and st.opened:
                lasted = (ev.ts - st.since).total_seconds()
                return [
                    self._clear(
                        ev.terminal_id, ev.ts, f"state ended after {lasted:g} s (seq {ev.seq})"
                    )
                ]
        return []

    def tick(self, now: datetime) -> list[Decision]:
        for_s = self.rule.create.for_s
        assert for_s is not None
        limit = now - timedelta(seconds=for_s)
        out: list[Decision] = []
        for st in self.pending.values():
            if not st.opened and st.since <= limit:
                st.opened = True
                first = st.events[0]
                what = first.code or first.kind
                reason = f"{what} persisting for {for_s:g} s since {st.since.isoformat()}"
                out.append(self._open(first, tuple(st.events), reason, now))
        return out


class AbsenceEvaluator(Evaluator):
    """No heartbeat (create match) for ``intervals`` intervals opens; the next one clears.

    The interval is the heartbeat's own ``data.interval_s`` when it says one. Deadlines sit in a
    heap, so a tick costs only the terminals that are actually late.
    """

    def __init__(self, rule: Rule, matches: Matcher, default_interval_s: float) -> None:
        super().__init__(rule, matches, default_interval_s)
        self.last: dict[str, tuple[Observed, float, int]] = {}  # tid -> (event, interval, version)
        self.absent: set[str] = set()
        self._heap: list[tuple[datetime, str, int]] = []
        self._version = 0

    def _interval(self, ev: Observed) -> float:
        raw = ev.data.get("interval_s")
        if isinstance(raw, int | float) and not isinstance(raw, bool) and 1 <= raw <= 86_400:
            return float(raw)
        return self.default_interval_s

    def observe(self, ev: Observed) -> list[Decision]:
        if not self.matches(self.rule.create.match, ev):
            return []
        prev = self.last.get(ev.terminal_id)
        if prev is not None and prev[0].ts > ev.ts:
            return []  # a late resend of an older heartbeat says nothing new
        self._version += 1
        interval = self._interval(ev)
        self.last[ev.terminal_id] = (ev, interval, self._version)
        intervals = self.rule.create.intervals or 3
        heapq.heappush(
            self._heap,
            (ev.ts + timedelta(seconds=interval * intervals), ev.terminal_id, self._version),
        )
        if ev.terminal_id in self.absent:
            self.absent.discard(ev.terminal_id)
            return [self._clear(ev.terminal_id, ev.ts, f"heartbeat again (seq {ev.seq})")]
        return []

    def tick(self, now: datetime) -> list[Decision]:
        out: list[Decision] = []
        intervals = self.rule.create.intervals or 3
        while self._heap and self._heap[0][0] <= now:
            _, tid, version = heapq.heappop(self._heap)
            ev, interval, current = self.last[tid]
            if version != current or tid in self.absent:
                continue
            self.absent.add(tid)
            silent = (now - ev.ts).total_seconds()
            reason = f"no heartbeat for {silent:g} s ({intervals} intervals of {interval:g} s)"
            out.append(self._open(ev, (ev,), reason, now))
        return out


KINDS: dict[RuleKind, type[Evaluator]] = {
    RuleKind.SIMPLE: SimpleEvaluator,
    RuleKind.DURATION: DurationEvaluator,
    RuleKind.REPEATING: RepeatingEvaluator,
    RuleKind.ABSENCE: AbsenceEvaluator,
}
