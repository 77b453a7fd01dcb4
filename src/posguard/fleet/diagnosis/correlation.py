"""Fleet-wide correlation: when more than N% of one acquirer host's (or one area's, one model's,
one issuer's) terminals hit matching faults within a window, open one group incident instead of
one per terminal (a host outage, a firewall change in an area, a bad firmware rollout on a
model, an issuer down behind every host).

Groups are tried in the rule's ``group_by`` order; once a terminal is covered by an open group
incident, its events feed that incident and count for no other group, so one outage makes one
incident. A group incident carries its rule's own code (or the code the rule names for that
dimension), never a code borrowed from a terminal's event; the codes seen are in its reason.

Dimensions: ``acquirer_host``, ``area`` and ``model`` come from the terminal directory;
``issuer`` is the card's BIN (first six digits of the masked PAN in a transaction event). An
issuer's group size is the number of terminals that did any transaction with that BIN in the
window, so "unavailable for 40% of the terminals that tried it" means across every host.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from posguard.card import brand_of
from posguard.fleet.diagnosis.directory import TerminalDirectory
from posguard.fleet.diagnosis.evidence import MAX_MEMBERS
from posguard.fleet.diagnosis.kinds import MAX_EVIDENCE, Matcher
from posguard.fleet.diagnosis.observed import Clear, Decision, Observed, Open
from posguard.fleet.diagnosis.rules import Rule

_PREFIX = {"acquirer_host": "host", "area": "area", "model": "model", "issuer": "issuer"}


def share_vs_threshold(share: float, threshold: float) -> str:
    """``share`` against ``threshold`` (percent) with the sign that is true and as many decimals
    as it takes for the two to read differently (a 30.4% share over a 30% threshold once read
    "30% > 30%"); ``≥`` only when no precision up to 6 decimals tells them apart.

    >>> share_vs_threshold(7 * 100 / 23, 30)
    '30.4% > 30%'
    >>> share_vs_threshold(50.0, 30), share_vs_threshold(30.0, 30), share_vs_threshold(29.96, 30)
    ('50% > 30%', '30% = 30%', '29.96% < 30%')
    """
    sign = ">" if share > threshold else "=" if share == threshold else "<"
    thr = f"{threshold:g}%"
    if sign == "=":
        return f"{share:g}% = {thr}"
    for digits in range(7):
        text = f"{share:.{digits}f}"
        shown = float(text)
        if (shown > threshold) == (sign == ">") and shown != threshold:
            return f"{text}% {sign} {thr}"
    return f"{share:.6f}% {'≥' if sign == '>' else '≤'} {thr}"


def issuer_of(ev: Observed) -> str | None:
    """The BIN (first six digits) of the card in a transaction event, if it names one."""
    masked = ev.data.get("masked_pan")
    if not isinstance(masked, str) or len(masked) < 6 or not masked[:6].isdigit():
        return None
    return masked[:6]


def issuer_name(bin6: str) -> str:
    brand = brand_of(bin6 + "0" * 10).value
    return f"BIN {bin6} ({brand})"


@dataclass(slots=True)
class _Group:
    recent: dict[str, Observed] = field(default_factory=dict)  # terminal -> latest matching event
    hits: Counter[str] = field(default_factory=Counter)  # terminal -> matching events in window
    tried: dict[str, datetime] = field(default_factory=dict)  # issuer: terminal -> last try
    open: bool = False
    last: datetime | None = None
    latest: datetime | None = None  # the newest matching event seen, open or not
    members: set[str] = field(default_factory=set)
    # (time, terminal) of every event put in ``recent`` / ``tried``, oldest first: expiring the
    # window pops from these heaps instead of scanning every terminal of the group at each hit
    # (a group of 15,000 terminals made each hit cost 15,000 steps)
    recent_order: list[tuple[datetime, str]] = field(default_factory=list)
    tried_order: list[tuple[datetime, str]] = field(default_factory=list)

    def note(self, ev: Observed, weight: int) -> None:
        self.recent[ev.terminal_id] = ev
        self.hits[ev.terminal_id] += weight
        heapq.heappush(self.recent_order, (ev.ts, ev.terminal_id))

    def expire(self, start: datetime) -> None:
        """Forget the terminals whose latest matching event is older than ``start``."""
        order, recent = self.recent_order, self.recent
        while order and order[0][0] < start:
            _, tid = heapq.heappop(order)
            e = recent.get(tid)
            if e is not None and e.ts < start:  # else: a newer event of it is still in the window
                del recent[tid]
                del self.hits[tid]

    def try_(self, terminal_id: str, ts: datetime) -> None:
        self.tried[terminal_id] = ts
        heapq.heappush(self.tried_order, (ts, terminal_id))

    def expire_tried(self, start: datetime) -> None:
        order, tried = self.tried_order, self.tried
        while order and order[0][0] < start:
            _, tid = heapq.heappop(order)
            at = tried.get(tid)
            if at is not None and at < start:
                del tried[tid]

    def reset(self) -> None:
        """Closed: nothing of the window is kept."""
        self.recent.clear()
        self.hits.clear()
        self.members.clear()
        self.recent_order.clear()


class CorrelationEvaluator:
    def __init__(self, rule: Rule, matches: Matcher, directory: TerminalDirectory) -> None:
        self.rule = rule
        self.matches = matches
        self.directory = directory
        self.groups: dict[tuple[str, str], _Group] = {}
        self.window = timedelta(seconds=rule.create.within_s or 300.0)

    def covered(self, terminal_id: str) -> str | None:
        """The scope of the open group incident covering this terminal, if any."""
        for dim in self.rule.create.group_by:
            if dim == "issuer":
                continue  # an issuer outage covers transactions, not terminals
            value = self.directory.group_of(terminal_id, dim)
            if value is not None:
                g = self.groups.get((dim, value))
                if g is not None and g.open:
                    return f"{_PREFIX[dim]}:{value}"
        return None

    def open_scopes(self) -> dict[str, datetime | None]:
        return {f"{_PREFIX[d]}:{v}": g.last for (d, v), g in self.groups.items() if g.open}

    def seed_open(self, scope: str, last: datetime | None = None) -> None:
        prefix, _, value = scope.partition(":")
        for dim, p in _PREFIX.items():
            if p == prefix:
                g = self.groups.setdefault((dim, value), _Group())
                g.open = True
                if last is not None and (g.last is None or g.last < last):
                    g.last = last

    def sync(self, open_now: dict[str, datetime], *, replayed: bool = False) -> None:
        """Align with the group incidents the database has open for this rule; ``replayed``:
        the latest evidence is also the newest matching event the warm-up saw (the correlator
        knows an incident's times, not its linked events)."""
        for (dim, value), g in self.groups.items():
            if g.open and f"{_PREFIX[dim]}:{value}" not in open_now:
                g.open = False
                g.reset()
        for scope, last in open_now.items():
            self.seed_open(scope, last)
        if replayed:
            for g in self.groups.values():
                if g.open and g.latest is not None and (g.last is None or g.last < g.latest):
                    g.last = g.latest

    def _size(self, dim: str, value: str, g: _Group, now: datetime) -> int:
        if dim != "issuer":
            return self.directory.size(dim, value)
        g.expire_tried(now - self.window)
        return len(g.tried)

    def observe(self, ev: Observed) -> list[Decision]:
        """One stored event (the embedded diagnoser reads every event itself)."""
        bin6 = issuer_of(ev) if "issuer" in self.rule.create.group_by else None
        if bin6 is not None and ev.kind == "transaction":
            self.tried(bin6, ev.terminal_id, ev.ts)
        if not self.matches(self.rule.create.match, ev):
            return []
        return self.hit(ev, bin6)

    def tried(self, bin6: str, terminal_id: str, ts: datetime) -> None:
        """A terminal did a transaction with this BIN (an issuer group's size)."""
        self.groups.setdefault(("issuer", bin6), _Group()).try_(terminal_id, ts)

    def hit(self, ev: Observed, bin6: str | None, weight: int = 1) -> list[Decision]:
        """``ev`` matched the rule (``weight`` matching events of its terminal, ``ev`` the
        latest: the correlator learns of a shard's events as counts, :mod:`.group_hits`)."""
        c = self.rule.create
        assert c.threshold_pct is not None
        for dim in c.group_by:
            value = bin6 if dim == "issuer" else self.directory.group_of(ev.terminal_id, dim)
            if value is None:
                continue
            g = self.groups.setdefault((dim, value), _Group())
            g.note(ev, weight)
            if g.latest is None or g.latest < ev.ts:
                g.latest = ev.ts
            g.expire(ev.ts - self.window)
            scope = f"{_PREFIX[dim]}:{value}"
            if g.open:
                g.last = ev.ts
                g.members.add(ev.terminal_id)
                # named every time: the incident's list grows, and an incident a shard opened
                # for this terminal before it learnt of the group one is merged now
                members = (ev.terminal_id,)
                return [self._open(dim, scope, (ev,), "more of the same while open", ev, members)]
            size = self._size(dim, value, g, ev.ts)
            hit = len(g.recent)
            share = hit * 100.0 / size if size else 0.0
            over = hit >= c.min_terminals and share > c.threshold_pct
            # a group every one of whose terminals is failing, whatever their number
            everyone = (
                dim in c.whole_group
                and size > 0
                and hit >= size
                and all(g.hits[t] >= c.count for t in g.recent)
            )
            if size and (over or everyone):
                g.open, g.last = True, ev.ts
                g.members = set(g.recent)
                events = tuple(sorted(g.recent.values(), key=lambda e: (e.ts, e.id)))
                codes = Counter(e.code for e in events if e.code)
                seen = ", ".join(f"{code} x{n}" for code, n in codes.most_common(5))
                what = issuer_name(value) if dim == "issuer" else value
                reason = (
                    f"{hit} of {size} terminals on {dim.replace('_', ' ')} {what} "
                    f"({share_vs_threshold(share, c.threshold_pct)}) within {c.within_s:g} s"
                    if over
                    else f"all {size} terminals on {dim.replace('_', ' ')} {what} "
                    f"within {c.within_s:g} s"
                ) + (f"; faults seen: {seen}" if seen else "")
                return [self._open(dim, scope, events, reason, ev, tuple(sorted(g.recent)))]
        return []

    def _open(
        self,
        dim: str,
        scope: str,
        events: tuple[Observed, ...],
        reason: str,
        cause: Observed,
        members: tuple[str, ...],
    ) -> Open:
        return Open(
            rule_id=self.rule.id,
            scope=scope,
            code=self.rule.code_by_group.get(dim, self.rule.code),
            at=cause.ts,
            reason=reason,
            events=events[:MAX_EVIDENCE],
            members=members[:MAX_MEMBERS],
            cause=cause.anchor,
        )

    def tick(self, now: datetime) -> list[Decision]:
        quiet = self.rule.clear.quiet_s or self.rule.create.within_s or 300.0
        limit = now - timedelta(seconds=quiet)
        out: list[Decision] = []
        for (dim, value), g in self.groups.items():
            if g.open and (g.last is None or g.last <= limit):
                g.open = False
                g.reset()
                out.append(
                    Clear(
                        rule_id=self.rule.id,
                        scope=f"{_PREFIX[dim]}:{value}",
                        at=now,
                        reason=f"no matching fault in the group for {quiet:g} s",
                    )
                )
        return out
