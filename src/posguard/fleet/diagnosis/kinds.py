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

    def sync(self, open_now: dict[str, datetime]) -> None:
        """Align with the incidents the database has open for this rule (terminal -> the
        latest evidence), after a warm-up replay: the database is what was decided."""

    def grace(self, now: datetime, down_s: float) -> None:
        """The service itself was down for ``down_s``: silence in that time proves nothing."""

    def _open(
        self,
        ev: Observed,
        events: tuple[Observed, ...],
        reason: str,
        at: datetime,
        cause: Observed | None = None,
    ) -> Open:
        """``cause``: the event whose arrival (or silence after it) opened the incident."""
        return Open(
            rule_id=self.rule.id,
            scope=_scope(ev.terminal_id),
            code=self.rule.code,
            at=at,
            reason=reason,
            events=events[-MAX_EVIDENCE:],
            terminal_id=ev.terminal_id,
            merchant_id=ev.merchant_id,
            cause=(cause or ev).anchor,
        )

    def _clear(self, terminal_id: str, at: datetime, reason: str) -> Clear:
        return Clear(rule_id=self.rule.id, scope=_scope(terminal_id), at=at, reason=reason)


@dataclass(slots=True)
class _Quiet:
    """An open incident that clears after ``quiet_s`` without a create match."""

    last: datetime


class QuietClearing(Evaluator):
    """Shared clear handling: a clear match, or quiet_s without a create match."""

    def __init__(self, rule: Rule, matches: Matcher, default_interval_s: float) -> None:
        super().__init__(rule, matches, default_interval_s)
        self.open: dict[str, _Quiet] = {}

    def sync(self, open_now: dict[str, datetime]) -> None:
        for tid in [t for t in self.open if t not in open_now]:
            del self.open[tid]
        for tid, last in open_now.items():
            st = self.open.get(tid)
            if st is None:
                self.open[tid] = _Quiet(last=last)
            else:
                st.last = max(st.last, last)

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
            self.open[ev.terminal_id] = _Quiet(last=ev.ts)
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
        self.open[ev.terminal_id] = _Quiet(last=ev.ts)
        reason = (
            f"{len(events)} x {ev.code or ev.kind} within {c.within_s:g} s (threshold {c.count})"
        )
        return [self._open(ev, events, reason, ev.ts)]

    def sync(self, open_now: dict[str, datetime]) -> None:
        super().sync(open_now)
        for tid in open_now:
            self.windows.pop(tid, None)


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

    def sync(self, open_now: dict[str, datetime]) -> None:
        # an incident closed by hand while the state lasts stays closed until the state ends
        # and starts again (the cause key refuses a second incident for the same start)
        for tid, last in open_now.items():
            st = self.pending.get(tid)
            if st is None:
                self.pending[tid] = _Pending(since=last, opened=True)
            else:
                st.opened = True

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
            if not st.opened and st.since <= limit and st.events:
                st.opened = True
                first = st.events[0]
                what = first.code or first.kind
                reason = f"{what} persisting for {for_s:g} s since {st.since.isoformat()}"
                out.append(self._open(first, tuple(st.events), reason, now))
        return out


# What a terminal says before a planned silence: an operator's reboot or rollback (its
# command_result, named by the fleet's command), an update starting, a clean stop.
PLANNED_LIFECYCLE = frozenset({"stop", "reboot", "rebooting", "update_started"})
PLANNED_COMMANDS = frozenset({"reboot", "rollback"})


def planned_silence(ev: Observed) -> bool:
    if ev.kind == "lifecycle":
        return ev.data.get("event") in PLANNED_LIFECYCLE
    if ev.kind == "command_result":
        return ev.data.get("command") in PLANNED_COMMANDS and ev.data.get("status") == "ok"
    return False


class AbsenceEvaluator(Evaluator):
    """No heartbeat (create match) for ``intervals`` intervals opens; the next one clears.

    The interval is the heartbeat's own ``data.interval_s`` when it says one. Deadlines sit in a
    heap, so a tick costs only the terminals that are actually late. A planned silence (a reboot
    or an update the terminal announced) moves the deadline to ``expected_gap_s`` after it; the
    service's own downtime moves every deadline by that downtime (``grace``).
    """

    def __init__(self, rule: Rule, matches: Matcher, default_interval_s: float) -> None:
        super().__init__(rule, matches, default_interval_s)
        self.last: dict[str, tuple[Observed, float, int]] = {}  # tid -> (event, interval, version)
        self.deadline: dict[str, datetime] = {}
        self.planned: dict[str, Observed] = {}  # tid -> the announcement of a planned silence
        self.absent: set[str] = set()
        self._heap: list[tuple[datetime, str, int]] = []
        self._version = 0
        self.intervals = rule.create.intervals or 3
        self.expected_gap = timedelta(seconds=rule.create.expected_gap_s or 0.0)

    def _interval(self, ev: Observed) -> float:
        raw = ev.data.get("interval_s")
        if isinstance(raw, int | float) and not isinstance(raw, bool) and 1 <= raw <= 86_400:
            return float(raw)
        return self.default_interval_s

    def _schedule(self, tid: str, at: datetime) -> None:
        ev, interval, _ = self.last[tid]
        self._version += 1
        self.last[tid] = (ev, interval, self._version)
        self.deadline[tid] = at
        heapq.heappush(self._heap, (at, tid, self._version))

    def observe(self, ev: Observed) -> list[Decision]:
        if self.expected_gap and ev.terminal_id in self.last and planned_silence(ev):
            self.planned[ev.terminal_id] = ev
            due = ev.ts + self.expected_gap
            if due > self.deadline.get(ev.terminal_id, due):
                self._schedule(ev.terminal_id, due)
            return []
        if not self.matches(self.rule.create.match, ev):
            return []
        prev = self.last.get(ev.terminal_id)
        if prev is not None and prev[0].ts > ev.ts:
            return []  # a late resend of an older heartbeat says nothing new
        interval = self._interval(ev)
        self.last[ev.terminal_id] = (ev, interval, 0)
        self.planned.pop(ev.terminal_id, None)
        self._schedule(ev.terminal_id, ev.ts + timedelta(seconds=interval * self.intervals))
        if ev.terminal_id in self.absent:
            self.absent.discard(ev.terminal_id)
            return [self._clear(ev.terminal_id, ev.ts, f"heartbeat again (seq {ev.seq})")]
        return []

    def sync(self, open_now: dict[str, datetime]) -> None:
        self.absent = {t for t in self.absent if t in open_now} | set(open_now)

    def grace(self, now: datetime, down_s: float) -> None:
        down = timedelta(seconds=down_s)
        for tid, (_, interval, _) in list(self.last.items()):
            if tid in self.absent:
                continue
            window = timedelta(seconds=interval * self.intervals)
            old = self.deadline.get(tid, now)
            self._schedule(tid, max(old + down, now + window))

    def tick(self, now: datetime) -> list[Decision]:
        out: list[Decision] = []
        while self._heap and self._heap[0][0] <= now:
            _, tid, version = heapq.heappop(self._heap)
            ev, interval, current = self.last[tid]
            if version != current or tid in self.absent:
                continue
            self.absent.add(tid)
            silent = (now - ev.ts).total_seconds()
            planned = self.planned.pop(tid, None)
            if planned is not None:
                what = planned.data.get("event") or planned.data.get("command") or planned.kind
                reason = (
                    f"no heartbeat for {silent:g} s: not back {self.expected_gap.total_seconds():g}"
                    f" s after a planned {what} (seq {planned.seq})"
                )
            else:
                reason = (
                    f"no heartbeat for {silent:g} s ({self.intervals} intervals of {interval:g} s)"
                )
            out.append(self._open(ev, (ev,), reason, now))
        return out


KINDS: dict[RuleKind, type[Evaluator]] = {
    RuleKind.SIMPLE: SimpleEvaluator,
    RuleKind.DURATION: DurationEvaluator,
    RuleKind.REPEATING: RepeatingEvaluator,
    RuleKind.ABSENCE: AbsenceEvaluator,
}
