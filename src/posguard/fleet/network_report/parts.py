"""The report's counting cut into time slices, so whole days can be counted once and stored
(``rollup``) and a report put together from them with the same figures as one pass over its
window (``aggregate.Aggregator``).

One pass over a slice (:func:`slice_parts`) gives, per terminal, a :class:`Part` per carrier ×
link its heartbeats named in the slice (their heartbeat figures and the attempts after them),
plus the attempts before its first heartbeat of the slice (a part with no key). The
:class:`Walker` then takes each terminal's slices in time order and does what the single pass
does: attempts before a slice's first heartbeat count for the terminal's newest heartbeat of an
earlier slice of the window, or, before any, for its first one; a terminal with none counts
under ``unknown``. Carrier and link only, no area: a terminal's area is read when the report is
made, as the single pass reads it.

>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2026, 11, 2, tzinfo=UTC)
>>> hb = {"link": "4g", "carrier": "CM", "rtt_ms": 90}
>>> day1 = slice_parts([("T1", t0, 1, "transaction", None, {}),
...     ("T1", t0 + timedelta(hours=1), 2, "heartbeat", None, hb)])
>>> day2 = slice_parts([("T1", t0 + timedelta(days=1), 3, "transaction", "NET.READ_TIMEOUT", {})])
>>> w = Walker(weeks=1)
>>> w.add("T1", "pudong", 0, day1["T1"]); w.add("T1", "pudong", 0, day2["T1"])
>>> g = w.groups()[GroupKey("pudong", "CM", "4g")]
>>> g.attempts, g.timeouts, g.heartbeats, sorted(g.terminals)
(2, 1, 1, ['T1'])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from posguard.common.events import heartbeat_network
from posguard.fleet.network_report.aggregate import (
    UNKNOWN,
    Counts,
    GroupCounts,
    GroupKey,
    carrier_link,
)

Mark = tuple[datetime, int]  # (ts, seq) of a heartbeat
RawRow = tuple[str, datetime, int, str, str | None, dict[str, Any] | None]


@dataclass
class Part(Counts):
    """One terminal's figures in one slice under one carrier × link (``key``), with its first
    and last heartbeat there; ``key`` None: its attempts before its first heartbeat."""

    key: tuple[str, str] | None = None
    first: Mark | None = None
    last: Mark | None = None


def slice_parts(rows: Iterable[RawRow]) -> dict[str, list[Part]]:
    """Terminal -> its parts, from one slice's ``(terminal, ts, seq, kind, code, data)`` in
    terminal, time, seq order (``raw.window_rows``): the pending part first, if any, then the
    keyed ones by their first heartbeat."""
    parts: dict[str, dict[tuple[str, str] | None, Part]] = {}
    current: dict[str, tuple[str, str]] = {}
    for tid, ts, seq, kind, code, raw in rows:
        data = raw or {}
        mine = parts.get(tid)
        if mine is None:
            mine = parts[tid] = {}
        if kind == "heartbeat":
            net = heartbeat_network(data)
            if net is None:
                continue
            key = carrier_link(net)
            part = mine.get(key)
            if part is None:
                part = mine[key] = Part(key=key, first=(ts, seq))
            part.last = (ts, seq)
            part.heartbeat(net)
            current[tid] = key
        elif kind == "transaction" or (kind == "fault" and "during" in data):
            held = current.get(tid)
            part = mine.get(held)
            if part is None:
                part = mine[held] = Part(key=held)
            part.attempt(code)
    return {tid: list(mine.values()) for tid, mine in parts.items() if mine}


def _copy(p: Part) -> Part:
    out = Part(key=p.key, first=p.first, last=p.last)
    out.add(p)
    return out


def joined(earlier: Iterable[Part], later: Iterable[Part]) -> list[Part]:
    """One terminal's parts of two adjacent slices as one pass over both gives them: the later
    slice's attempts before its first heartbeat count for the earlier slice's newest heartbeat
    (or stay before any heartbeat); parts of the same carrier × link add up.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 11, 2, tzinfo=UTC)
    >>> a = Part(key=("CM", "4g"), first=(t, 1), last=(t, 1), heartbeats=1)
    >>> b = Part(attempts=2)
    >>> [(p.key, p.attempts, p.heartbeats) for p in joined([a], [b])]
    [(('CM', '4g'), 2, 1)]
    """
    out = {p.key: _copy(p) for p in earlier}
    keyed = [p for p in out.values() if p.last is not None]
    held = max(keyed, key=lambda p: cast(Mark, p.last)).key if keyed else None
    for p in later:
        key = held if p.key is None else p.key
        mine = out.get(key)
        if mine is None:
            out[key] = _copy(p) if p.key is not None else Part(key=key)
            if p.key is not None:
                continue
            mine = out[key]
        mine.add(p)
        if p.last is not None:
            mine.last = p.last
    return sorted(out.values(), key=lambda p: p.key is not None)


@dataclass
class _Terminal:
    area: str
    key: GroupKey | None = None
    waiting: list[tuple[int, Part]] = field(default_factory=list)


class Walker:
    """Per area × carrier × link, from each terminal's slices given in time order."""

    def __init__(self, *, weeks: int) -> None:
        self.weeks = weeks
        self._groups: dict[GroupKey, GroupCounts] = {}
        self._terms: dict[str, _Terminal] = {}

    def _group(self, key: GroupKey) -> GroupCounts:
        g = self._groups.get(key)
        if g is None:
            g = self._groups[key] = GroupCounts(weeks=self.weeks)
        return g

    def add(self, terminal_id: str, area: str, week: int, parts: Iterable[Part]) -> None:
        """One slice of ``terminal_id`` (all in week ``week`` of the window)."""
        term = self._terms.get(terminal_id)
        if term is None:
            term = self._terms[terminal_id] = _Terminal(area)
        keyed: list[Part] = []
        for p in parts:
            if p.key is not None:
                keyed.append(p)
            elif term.key is None:
                term.waiting.append((week, p))
            else:
                self._group(term.key).add_in(week, p)
        if not keyed:
            return
        keyed.sort(key=lambda p: cast(Mark, p.first))
        first = self._group(GroupKey(term.area, *keyed[0].key or ("", "")))
        for w, p in term.waiting:
            first.add_in(w, p)
        term.waiting.clear()
        for p in keyed:
            g = self._group(GroupKey(term.area, *p.key or ("", "")))
            g.terminals.add(terminal_id)
            g.add_in(week, p)
        last = max(keyed, key=lambda p: cast(Mark, p.last))
        term.key = GroupKey(term.area, *last.key or ("", ""))

    def groups(self) -> dict[GroupKey, GroupCounts]:
        """The counts; attempts of terminals that never reported their network count under
        ``unknown`` carrier and link (as ``Aggregator.groups``)."""
        for tid, term in self._terms.items():
            if term.waiting:
                g = self._group(GroupKey(term.area, UNKNOWN, UNKNOWN))
                g.terminals.add(tid)
                for week, p in term.waiting:
                    g.add_in(week, p)
                term.waiting.clear()
        return self._groups
