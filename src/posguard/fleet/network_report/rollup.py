"""The network report's rollup: each past UTC day counted once (``parts.slice_parts`` over its
sampled heartbeats and events) and stored per terminal (``network_daily``), with every prefix
and suffix of it cut at an hour (``network_hourly``: its hours counted apart and joined with
``parts.joined``); today's prefixes as its hours end. A report reads a row per terminal-day for
a whole day, and a prefix and a suffix for a day a week boundary cuts (a suffix for its first
partial day, a prefix for today), instead of every heartbeat sample and transaction.

Kept current, idempotently:

- :func:`roll_up` (``posguard fleet maintenance network-rollup``, hourly from a timer)
  builds each day of the last :data:`ROLLUP_DAYS` that has ended (plus :data:`GRACE`) and is
  not current, with its spans: it reads the day's and its hours' ``gen``, then the day's data,
  and in one transaction replaces the rows and records ``built_gen = gen``; then the prefixes
  of the days after those, from their first stale ended hour (plus :data:`HOUR_GRACE`) on (the
  prefix before it joined with the hours after). Killed at any point, it leaves the day or
  hours as they were (rebuilt next time); run twice, it writes the same rows.
- :func:`note_late` (ingest, in the batch's transaction) bumps ``gen`` of every past day and
  past hour the batch brings an event or heartbeat for, so one that gets data after it was
  built (a terminal's outbox after an outage, a redelivery) is no longer current. The current
  hour's traffic touches nothing.

A report uses rows only while they are current (``built_gen == gen``; a span: all its hours, and
a suffix only once its day was built) and counts anything else
straight from the data, so its figures never depend on when the rollup last ran. Because
``gen`` is read before the data, an event stored during a build either is in it or leaves the
day (hour) not current.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from typing import Any, Final, NamedTuple, cast

from sqlalchemy import CursorResult, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from posguard.fleet.db.models import NetworkDaily, NetworkDailyDay, NetworkHour, NetworkHourly
from posguard.fleet.network_report.parts import Part, RawRow, joined, slice_parts
from posguard.fleet.network_report.raw import window_rows
from posguard.fleet.network_report.stored import (
    DAILY,
    SPANS,
    Span,
    part_rows,
    stored_parts,
    stored_spans,
)

__all__ = ["stored_parts", "stored_spans"]

ROLLUP_DAYS: Final = 26 * 7 + 1  # the longest report window (MAX_WEEKS) and its first day
GRACE: Final = timedelta(hours=1)
HOUR_GRACE: Final = timedelta(minutes=5)
HOUR: Final = timedelta(hours=1)
DAY: Final = timedelta(days=1)
_DAYS: Final = cast(Table, NetworkDailyDay.__table__)
_HOURS: Final = cast(Table, NetworkHour.__table__)


class Rolled(NamedTuple):
    days: list[date]
    hours: list[datetime]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def hour_start(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _upsert(session: Session, marks: Table, rows: list[dict[str, Any]], bump: bool) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(marks).values(rows)
    key = list(marks.primary_key.columns)
    session.execute(
        stmt.on_conflict_do_update(index_elements=key, set_={"gen": marks.c.gen + 1})
        if bump
        else stmt.on_conflict_do_nothing()
    )


def note_late(session: Session, times: Iterable[datetime], now: datetime) -> None:
    """Mark the past days and hours among ``times`` (of events or heartbeats being stored)
    changed."""
    this_hour = hour_start(now)
    late = {hour_start(t) for t in times if t < this_hour}
    if not late:
        return
    _upsert(session, _HOURS, [{"hour": h, "gen": 1} for h in sorted(late)], True)
    days = sorted({h.date() for h in late if h.date() < this_hour.date()})
    if days:
        _upsert(session, _DAYS, [{"day": d, "gen": 1} for d in days], True)


def _marks(session: Session, marks: Table, keys: Iterable[Any]) -> dict[Any, tuple[int, Any]]:
    wanted = list(keys)
    if not wanted:
        return {}
    col = next(iter(marks.primary_key.columns))
    stmt = select(col, marks.c.gen, marks.c.built_gen).where(col.in_(wanted))
    return {k: (gen, built) for k, gen, built in session.execute(stmt)}


def _current(marks: dict[Any, tuple[int, Any]]) -> set[Any]:
    return {k for k, (gen, built) in marks.items() if built is not None and built == gen}


def current_days(session: Session, days: Iterable[date]) -> set[date]:
    """Which of ``days`` have current rows."""
    return _current(_marks(session, _DAYS, days))


def current_hours(session: Session, hours: Iterable[datetime]) -> set[datetime]:
    """Which of ``hours`` (their starts) are current."""
    return _current(_marks(session, _HOURS, hours))


def _hours_of(span: Span) -> list[datetime]:
    return [span[0] + HOUR * i for i in range((span[1] - span[0]) // HOUR)]


def current_spans(session: Session, spans: Iterable[Span]) -> set[Span]:
    """Which of ``spans`` (prefixes and suffixes of days) have current rows: all their hours
    current, and a suffix's day built (only a day's build writes its suffixes)."""
    wanted = list(spans)
    hours = current_hours(session, {h for s in wanted for h in _hours_of(s)})
    built = {
        d
        for d, (_gen, b) in _marks(session, _DAYS, {a.date() for a, _ in wanted}).items()
        if b is not None
    }
    return {
        (a, b)
        for a, b in wanted
        if all(h in hours for h in _hours_of((a, b)))
        and (a == day_start(a.date()) or a.date() in built)
    }


def _gens(session: Session, marks: Table, keys: Sequence[Any]) -> dict[Any, int]:
    found = _marks(session, marks, keys)
    return {k: int(found[k][0]) if k in found else 0 for k in keys}


@dataclass
class Counted:
    """Rows counted from the data, with the ``gen`` of each day and hour they cover, read
    before the data; ``sinces``, ``untils``: the spans' bounds whose rows they replace."""

    day: dict[date, int] = field(default_factory=dict)
    hours: dict[datetime, int] = field(default_factory=dict)
    day_rows: list[dict[str, Any]] = field(default_factory=list)
    span_rows: list[dict[str, Any]] = field(default_factory=list)
    sinces: set[datetime] = field(default_factory=set)
    untils: set[datetime] = field(default_factory=set)


def _by_hour(rows: list[RawRow]) -> dict[datetime, list[Part]]:
    out = {}
    for hour, in_hour in groupby(rows, key=lambda r: hour_start(r[1])):
        for mine in slice_parts(in_hour).values():
            out[hour] = mine
    return out


def _span(out: Counted, since: datetime, until: datetime, tid: str, parts: list[Part]) -> None:
    out.span_rows += part_rows({"since": since, "until": until}, tid, parts)


def count_day(session: Session, day: date) -> Counted:
    """``day``'s gens, then its rows and its spans' rows counted from the data (reads only;
    one read of the day, a terminal at a time)."""
    start = day_start(day)
    hours = [start + HOUR * i for i in range(24)]
    out = Counted(day=_gens(session, _DAYS, [day]), hours=_gens(session, _HOURS, hours))
    out.sinces, out.untils = set(hours), {h + HOUR for h in hours}
    for tid, mine in groupby(window_rows(session, start, start + DAY), key=lambda r: r[0]):
        terminal: list[RawRow] = list(mine)
        out.day_rows += part_rows({"day": day}, tid, slice_parts(terminal).get(tid, []))
        each = _by_hour(terminal)
        acc: list[Part] = []
        for h in hours[:-1]:  # prefixes; the whole day is in network_daily
            acc = joined(acc, each.get(h, []))
            if acc:
                _span(out, start, h + HOUR, tid, acc)
        acc = []
        for h in reversed(hours[1:]):  # suffixes
            acc = joined(each.get(h, []), acc)
            if acc:
                _span(out, h, start + DAY, tid, acc)
    return out


def count_prefixes(session: Session, first: datetime, last: datetime) -> Counted:
    """The prefixes of ``first``'s day that end after ``first`` .. ``last`` (hours of one day
    whose earlier hours are current): the stored prefix before ``first`` joined with each hour
    counted from the data."""
    start = day_start(first.date())
    hours = [first + HOUR * i for i in range((last - first) // HOUR + 1)]
    out = Counted(hours=_gens(session, _HOURS, hours))
    out.sinces, out.untils = {start}, {h + HOUR for h in hours}
    base = stored_spans(session, [(start, first)]).get((start, first), {}) if first > start else {}
    rows = groupby(window_rows(session, first, last + HOUR), key=lambda r: r[0])
    counted = {tid: _by_hour(list(mine)) for tid, mine in rows}
    for tid in sorted(set(base) | set(counted)):
        acc = base.get(tid, [])
        each = counted.get(tid, {})
        for h in hours:
            acc = joined(acc, each.get(h, []))
            if acc:
                _span(out, start, h + HOUR, tid, acc)
    return out


def write(session: Session, counted: Counted, now: datetime) -> None:
    """Replace the counted rows and mark their day and hours built from the gens read (the
    caller commits)."""
    for marks, gens, rows, table in (
        (_DAYS, counted.day, counted.day_rows, DAILY),
        (_HOURS, counted.hours, counted.span_rows, SPANS),
    ):
        if not gens:
            continue
        col = next(iter(marks.primary_key.columns))
        _upsert(session, marks, [{col.name: k, "gen": 0} for k in sorted(gens)], False)
        if table is DAILY:
            session.execute(delete(table).where(table.c.day.in_(list(gens))))
        else:
            session.execute(
                delete(table).where(
                    table.c.since.in_(sorted(counted.sinces)),
                    table.c.until.in_(sorted(counted.untils)),
                )
            )
        for i in range(0, len(rows), 5000):
            session.execute(insert(table), rows[i : i + 5000])
        for k, gen in gens.items():
            session.execute(update(marks).where(col == k).values(built_gen=gen, built_at=now))


def _build(sessions: sessionmaker[Session], count: Any, *args: Any, now: datetime) -> Counted:
    """Count in a read-only transaction, then write in a short one (ingest never waits for a
    count; on SQLite a reader that then writes could lose its snapshot). Data stored in
    between bumps ``gen`` past the one read: what it touches stays stale."""
    with sessions() as session:
        counted = cast(Counted, count(session, *args))
    with sessions() as session:
        write(session, counted, now)
        session.commit()
    return counted


def build_day(sessions: sessionmaker[Session], day: date, now: datetime) -> int:
    """Count and write ``day`` and its spans; the day rows written."""
    return len(_build(sessions, count_day, day, now=now).day_rows)


def _last_day(now: datetime) -> date:
    return (now - GRACE).astimezone(UTC).date() - timedelta(days=1)


def stale_days(session: Session, now: datetime, days: int = ROLLUP_DAYS) -> list[date]:
    """The ended days of the last ``days`` whose rows are missing or not current."""
    last = _last_day(now)
    wanted = [last - timedelta(days=i) for i in range(days)]
    fresh = current_days(session, wanted)
    return sorted(d for d in wanted if d not in fresh)


def stale_hours(session: Session, now: datetime) -> list[datetime]:
    """The ended hours after the days :func:`stale_days` looks at, missing or not current."""
    hour = day_start(_last_day(now) + DAY)
    wanted = []
    while hour + HOUR + HOUR_GRACE <= now:
        wanted.append(hour)
        hour += HOUR
    fresh = current_hours(session, wanted)
    return [h for h in wanted if h not in fresh]


def roll_up(sessions: sessionmaker[Session], now: datetime, *, days: int = ROLLUP_DAYS) -> Rolled:
    """Build every stale day (one transaction each), then the prefixes of the days after them
    from their first stale hour (one transaction a day); the days and the stale hours."""
    with sessions() as session:
        todo = stale_days(session, now, days)
    for day in todo:
        build_day(sessions, day, now)
    with sessions() as session:
        hours = stale_hours(session, now)
        ended = hour_start(now - HOUR_GRACE) - HOUR
    for day, stale in groupby(hours, key=lambda h: h.date()):
        first = next(stale)
        last = min(ended, day_start(day) + DAY - HOUR)
        _build(sessions, count_prefixes, first, last, now=now)
    return Rolled(todo, hours)


def delete_before(sessions: sessionmaker[Session], day: date) -> int:
    """Drop the rollup of the days before ``day`` (the events' retention: a report counts what
    the data still holds); the day rows deleted."""
    start = day_start(day)
    with sessions() as session:
        result = session.execute(delete(NetworkDaily).where(NetworkDaily.day < day))
        n = cast(CursorResult[Any], result).rowcount
        session.execute(delete(NetworkDailyDay).where(NetworkDailyDay.day < day))
        session.execute(delete(NetworkHourly).where(NetworkHourly.since < start))
        session.execute(delete(NetworkHour).where(NetworkHour.hour < start))
        session.commit()
    return int(n or 0)
