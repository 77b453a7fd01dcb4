"""The network report from the fleet database.

The window (the ``weeks`` weeks up to ``now``) is cut at UTC midnights and at its week
boundaries. Each whole day with current rows in the daily rollup (``rollup``) is read from
there, a row per terminal; the other pieces — the window's first and last partial days, a day a
week boundary cuts, a day not rolled up yet or changed since — are cut at the hours, and their
whole hours, a prefix or a suffix of the day, are read from the hourly rollup while current,
a row per terminal; what is left — the hours the window's ends and week boundaries fall in,
hours not rolled up yet or changed since — is counted straight from the sampled heartbeats and
events (``raw``). ``parts.Walker`` puts the pieces together in time order per terminal, so the
figures are those of one pass over the whole window (``rollup=False``, kept as the reference
and the benchmark's baseline): the same counts, and RTT percentiles from the same values (the
rollup keeps every sampled RTT with its count).

RTT p50/p95, the weak-signal share and the failover share are over the sampled heartbeats,
one a terminal per sample period (one hour by default), not every heartbeat sent: each
terminal weighs by the time it reported, not by how often it beat.

A merchant's report has the rows of its own terminals only; the fleet's rate, and the other
carriers a recommendation compares with, stay the whole fleet's (a shop is judged against the
estate, and told which carrier does better around it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import Terminal
from posguard.fleet.network_report.aggregate import Aggregator, GroupCounts, GroupKey
from posguard.fleet.network_report.parts import Part, Walker, slice_parts
from posguard.fleet.network_report.raw import window_rows
from posguard.fleet.network_report.rollup import (
    current_days,
    current_spans,
    day_start,
    hour_start,
    stored_parts,
    stored_spans,
)
from posguard.fleet.network_report.rows import NetworkReport, build_row, worst_first

MAX_WEEKS: Final = 26
_DAY: Final = timedelta(days=1)
_HOUR: Final = timedelta(hours=1)
_FALL_BACK: Final = 3  # hours: the hourly timer late, or its run not ended yet


@dataclass(frozen=True, slots=True)
class Piece:
    start: datetime
    end: datetime
    week: int
    day: date | None  # a whole UTC day, which the rollup may hold
    span: tuple[datetime, datetime] | None = None  # whole hours of a day the rollup may hold


def pieces(since: datetime, until: datetime, weeks: int) -> list[Piece]:
    """``[since, until)`` cut at UTC midnights and week boundaries, in time order.

    >>> since = datetime(2026, 11, 2, 12, tzinfo=UTC)
    >>> [(p.start.day, p.start.hour, p.week, p.day is not None)
    ...  for p in pieces(since, since + timedelta(days=14), 2)][6:10]
    [(8, 0, 0, True), (9, 0, 0, False), (9, 12, 1, False), (10, 0, 1, True)]
    """
    cuts = {since, until}
    cuts.update(since + timedelta(days=7 * k) for k in range(1, weeks))
    midnight = day_start(since.astimezone(UTC).date()) + _DAY
    while midnight < until:
        cuts.add(midnight)
        midnight += _DAY
    edges = sorted(cuts)
    out = []
    for a, b in pairwise(edges):
        week = min(max((a - since) // timedelta(days=7), 0), weeks - 1)
        whole = b - a == _DAY and a == day_start(a.astimezone(UTC).date())
        out.append(Piece(a, b, week, a.astimezone(UTC).date() if whole else None))
    return out


def _cut(p: Piece) -> list[Piece]:
    """A piece not read as a whole day, cut at the hours: the partial hours at its ends, and
    the whole hours between them as one piece with a ``span`` if they are a prefix or a suffix
    of the day, which the rollup may hold."""
    first = hour_start(p.start)
    if first < p.start:
        first += _HOUR
    last = hour_start(p.end)
    midnight = day_start(p.start.astimezone(UTC).date())
    if first >= last or (first != midnight and last != midnight + _DAY):
        return [p]
    out = [Piece(p.start, first, p.week, None)] if p.start < first else []
    out.append(Piece(first, last, p.week, None, (first, last)))
    if last < p.end:
        out.append(Piece(last, p.end, p.week, None))
    return out


def _shorter(span: tuple[datetime, datetime]) -> list[tuple[datetime, datetime]]:
    """A prefix's shorter ones, longest first, down to :data:`_FALL_BACK` hours shorter."""
    a, b = span
    if a != day_start(a.astimezone(UTC).date()):
        return []
    return [(a, b - _HOUR * i) for i in range(1, _FALL_BACK + 1) if b - _HOUR * i > a]


def _fall_back(p: Piece, spans: set[tuple[datetime, datetime]]) -> list[Piece]:
    """A span not current as its longest current shorter prefix and the hours after it (today's
    last hours before the rollup's next run), or as a piece counted from the data."""
    if p.span is None or p.span in spans:
        return [p]
    for a, b in _shorter(p.span):
        if (a, b) in spans:
            return [Piece(a, b, p.week, None, (a, b)), Piece(b, p.end, p.week, None)]
    return [Piece(p.start, p.end, p.week, None)]


def _slices(
    session: Session, since: datetime, until: datetime, weeks: int
) -> list[tuple[int, dict[str, list[Part]]]]:
    """Each slice's ``(week, terminal -> parts)``, in time order: current rollup days and
    spans read, the rest counted from the data (neighbouring pieces of one week in one pass)."""
    plan = pieces(since, until, weeks)
    ready = current_days(session, [p.day for p in plan if p.day is not None])
    plan = [q for p in plan for q in ([p] if p.day in ready else _cut(p))]
    wanted = [p.span for p in plan if p.span is not None]
    spans = current_spans(session, wanted + [s for w in wanted for s in _shorter(w)])
    plan = [q for p in plan for q in _fall_back(p, spans)]
    stored = stored_parts(session, ready)
    by_span = stored_spans(session, spans)
    out: list[tuple[int, dict[str, list[Part]]]] = []
    run: list[Piece] = []

    def flush() -> None:
        if run:
            rows = window_rows(session, run[0].start, run[-1].end)
            out.append((run[0].week, slice_parts(rows)))
            run.clear()

    for p in plan:
        if p.day is not None and p.day in ready:
            flush()
            out.append((p.week, stored.get(p.day, {})))
        elif p.span is not None and p.span in spans:
            flush()
            out.append((p.week, by_span.get(p.span, {})))
        else:
            if run and run[-1].week != p.week:
                flush()
            run.append(p)
    flush()
    return out


def _groups_rollup(
    session: Session,
    terminals: dict[str, tuple[str, str]],
    since: datetime,
    until: datetime,
    weeks: int,
    merchant_id: str | None,
) -> tuple[dict[GroupKey, GroupCounts], dict[GroupKey, GroupCounts]]:
    slices = _slices(session, since, until, weeks)
    fleet = Walker(weeks=weeks)
    own = Walker(weeks=weeks) if merchant_id is not None else fleet
    tids = sorted({tid for _, s in slices for tid in s})
    for tid in tids:
        area, mid = terminals.get(tid, ("", ""))
        mine = own is not fleet and mid == merchant_id
        for week, s in slices:
            parts = s.get(tid)
            if parts:
                fleet.add(tid, area, week, parts)
                if mine:
                    own.add(tid, area, week, parts)
    return fleet.groups(), own.groups()


def _groups_raw(
    session: Session,
    terminals: dict[str, tuple[str, str]],
    since: datetime,
    until: datetime,
    weeks: int,
    merchant_id: str | None,
) -> tuple[dict[GroupKey, GroupCounts], dict[GroupKey, GroupCounts]]:
    fleet = Aggregator(since=since, weeks=weeks)
    own = Aggregator(since=since, weeks=weeks) if merchant_id is not None else fleet
    for tid, ts, _seq, kind, code, data in window_rows(session, since, until):
        area, mid = terminals.get(tid, ("", ""))
        fleet.add(tid, area, ts, kind, code, data or {})
        if own is not fleet and mid == merchant_id:
            own.add(tid, area, ts, kind, code, data or {})
    return fleet.groups(), own.groups()


def network_report(
    session: Session,
    *,
    now: datetime,
    weeks: int = 4,
    merchant_id: str | None = None,
    rollup: bool = True,
) -> NetworkReport:
    """The report of the ``weeks`` weeks up to ``now``; ``merchant_id`` keeps its rows only;
    ``rollup=False`` counts the whole window from the data (the reference)."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be 1..{MAX_WEEKS}, not {weeks}")
    since = now - timedelta(days=7 * weeks)
    terminals = {
        tid: (area, mid)
        for tid, area, mid in session.execute(
            select(Terminal.id, Terminal.area, Terminal.merchant_id)
        )
    }
    count = _groups_rollup if rollup else _groups_raw
    everyone, mine = count(session, terminals, since, now, weeks, merchant_id)
    attempts = sum(g.attempts for g in everyone.values())
    failures = sum(g.timeouts + g.resets for g in everyone.values())
    fleet_rate = round(1000.0 * failures / attempts, 2) if attempts else 0.0
    rows = [build_row(key, g, fleet_per_1000=fleet_rate, peers=everyone) for key, g in mine.items()]
    return NetworkReport(
        since=since,
        until=now,
        weeks=weeks,
        merchant_id=merchant_id,
        fleet_attempts=attempts,
        fleet_failures_per_1000=fleet_rate,
        rows=worst_first(rows),
    )
