"""The network report's rollup: each past UTC day, and each UTC hour, counted once
(``parts.slice_parts`` over its sampled heartbeats and events) and stored per terminal
(``network_daily``, ``network_hourly``), so a report reads a row per terminal-day for a whole
day, and a row per terminal-hour for a day its week boundary cuts and for its partial end days,
instead of every heartbeat sample and transaction.

Kept current, idempotently:

- :func:`roll_up` (``posguard fleet maintenance network-rollup``, hourly from a timer)
  builds each day of the last :data:`ROLLUP_DAYS` that has ended (plus :data:`GRACE`) and is
  not current, with its 24 hours: in one transaction it reads the day's and the hours' ``gen``,
  then the day's data, replaces the rows and records ``built_gen = gen``; then, one at a time,
  each ended hour (plus :data:`HOUR_GRACE`) after those days. Killed at any point, it leaves
  the day or hour as it was (rebuilt next time); run twice, it writes the same rows.
- :func:`note_late` (ingest, in the batch's transaction) bumps ``gen`` of every past day and
  past hour the batch brings an event or heartbeat for, so one that gets data after it was
  built (a terminal's outbox after an outage, a redelivery) is no longer current. The current
  hour's traffic touches nothing.

A report uses rows only while they are current (``built_gen == gen``) and counts anything else
straight from the data, so its figures never depend on when the rollup last ran. Because
``gen`` is read before the data, an event stored during a build either is in it or leaves the
day (hour) not current.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from typing import Any, Final, NamedTuple, cast

from sqlalchemy import CursorResult, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from posguard.fleet.db.models import NetworkDaily, NetworkDailyDay, NetworkHour, NetworkHourly
from posguard.fleet.network_report.aggregate import SUMMED
from posguard.fleet.network_report.parts import Part, RawRow, slice_parts
from posguard.fleet.network_report.raw import window_rows

ROLLUP_DAYS: Final = 26 * 7 + 1  # the longest report window (MAX_WEEKS) and its first day
GRACE: Final = timedelta(hours=1)
HOUR_GRACE: Final = timedelta(minutes=5)
HOUR: Final = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class _Grain:
    rows: Table
    marks: Table
    col: str  # "day" or "hour"


_BY_DAY: Final = _Grain(
    cast(Table, NetworkDaily.__table__), cast(Table, NetworkDailyDay.__table__), "day"
)
_BY_HOUR: Final = _Grain(
    cast(Table, NetworkHourly.__table__), cast(Table, NetworkHour.__table__), "hour"
)


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
    key = [marks.primary_key.columns.values()[0]]
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
    _upsert(session, _BY_HOUR.marks, [{"hour": h, "gen": 1} for h in sorted(late)], True)
    today = this_hour.date()
    days = sorted({h.date() for h in late if h.date() < today})
    if days:
        _upsert(session, _BY_DAY.marks, [{"day": d, "gen": 1} for d in days], True)


def _current(session: Session, grain: _Grain, keys: Iterable[Any]) -> set[Any]:
    wanted = list(keys)
    if not wanted:
        return set()
    c = grain.marks.c
    stmt = select(c[grain.col], c.gen, c.built_gen).where(c[grain.col].in_(wanted))
    return {k for k, gen, built in session.execute(stmt) if built is not None and built == gen}


def current_days(session: Session, days: Iterable[date]) -> set[date]:
    """Which of ``days`` have current rows."""
    return _current(session, _BY_DAY, days)


def current_hours(session: Session, hours: Iterable[datetime]) -> set[datetime]:
    """Which of ``hours`` (their starts) have current rows."""
    return _current(session, _BY_HOUR, hours)


def _gens(session: Session, grain: _Grain, keys: Sequence[Any]) -> dict[Any, int]:
    c = grain.marks.c
    found = dict(session.execute(select(c[grain.col], c.gen).where(c[grain.col].in_(keys))).all())
    return {k: int(found.get(k) or 0) for k in keys}


def _rows(col: str, key: Any, parts: dict[str, list[Part]]) -> list[dict[str, Any]]:
    out = []
    for tid, mine in parts.items():
        for n, p in enumerate(sorted(mine, key=lambda p: p.key is not None)):
            carrier, link = p.key if p.key is not None else (None, None)
            out.append(
                {
                    col: key,
                    "terminal_id": tid,
                    "part": n,
                    "carrier": carrier,
                    "link": link,
                    "first_ts": p.first[0] if p.first else None,
                    "first_seq": p.first[1] if p.first else None,
                    "last_ts": p.last[0] if p.last else None,
                    "last_seq": p.last[1] if p.last else None,
                    **{k: getattr(p, k) for k in SUMMED},
                    "rtts": {repr(v): c for v, c in p.rtts.items()},
                }
            )
    return out


@dataclass
class Counted:
    """A day's (or one hour's) rows counted from the data, with the ``gen`` of each day or hour
    read before: ``day`` and ``hours`` map a key to its gen."""

    day: dict[date, int] = field(default_factory=dict)
    hours: dict[datetime, int] = field(default_factory=dict)
    day_rows: list[dict[str, Any]] = field(default_factory=list)
    hour_rows: list[dict[str, Any]] = field(default_factory=list)


def count_day(session: Session, day: date) -> Counted:
    """``day``'s gens and then its rows and its 24 hours' rows counted from the data (reads
    only; one read of the day, a terminal's rows at a time)."""
    start = day_start(day)
    hours = [start + HOUR * i for i in range(24)]
    out = Counted(day=_gens(session, _BY_DAY, [day]), hours=_gens(session, _BY_HOUR, hours))
    rows = window_rows(session, start, start + timedelta(days=1))
    for _tid, mine in groupby(rows, key=lambda r: r[0]):
        terminal: list[RawRow] = list(mine)
        out.day_rows += _rows("day", day, slice_parts(terminal))
        for hour, in_hour in groupby(terminal, key=lambda r: hour_start(r[1])):
            out.hour_rows += _rows("hour", hour, slice_parts(in_hour))
    return out


def count_hour(session: Session, hour: datetime) -> Counted:
    """One hour's gen and then its rows counted from the data (reads only)."""
    out = Counted(hours=_gens(session, _BY_HOUR, [hour]))
    out.hour_rows = _rows("hour", hour, slice_parts(window_rows(session, hour, hour + HOUR)))
    return out


def _replace(
    session: Session,
    grain: _Grain,
    gens: dict[Any, int],
    rows: Sequence[dict[str, Any]],
    now: datetime,
) -> None:
    if not gens:
        return
    keys = sorted(gens)
    _upsert(session, grain.marks, [{grain.col: k, "gen": 0} for k in keys], False)
    session.execute(delete(grain.rows).where(grain.rows.c[grain.col].in_(keys)))
    for i in range(0, len(rows), 5000):
        session.execute(insert(grain.rows), rows[i : i + 5000])
    for k, gen in gens.items():
        session.execute(
            update(grain.marks)
            .where(grain.marks.c[grain.col] == k)
            .values(built_gen=gen, built_at=now)
        )


def write(session: Session, counted: Counted, now: datetime) -> None:
    """Replace the counted day's and hours' rows and mark them built from the gens read (the
    caller commits)."""
    _replace(session, _BY_DAY, counted.day, counted.day_rows, now)
    _replace(session, _BY_HOUR, counted.hours, counted.hour_rows, now)


def build_day(sessions: sessionmaker[Session], day: date, now: datetime) -> int:
    """Count ``day`` in a read-only transaction, then write it in a short one (ingest never
    waits for a count; on SQLite a reader that then writes could lose its snapshot); the day
    rows written. Data stored in between bumps ``gen`` past the one read: the day stays stale."""
    with sessions() as session:
        counted = count_day(session, day)
    with sessions() as session:
        write(session, counted, now)
        session.commit()
    return len(counted.day_rows)


def build_hour(sessions: sessionmaker[Session], hour: datetime, now: datetime) -> int:
    """:func:`build_day` for one hour; the rows written."""
    with sessions() as session:
        counted = count_hour(session, hour)
    with sessions() as session:
        write(session, counted, now)
        session.commit()
    return len(counted.hour_rows)


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
    hour = day_start(_last_day(now) + timedelta(days=1))
    wanted = []
    while hour + HOUR + HOUR_GRACE <= now:
        wanted.append(hour)
        hour += HOUR
    fresh = current_hours(session, wanted)
    return [h for h in wanted if h not in fresh]


def roll_up(sessions: sessionmaker[Session], now: datetime, *, days: int = ROLLUP_DAYS) -> Rolled:
    """Build every stale day (one transaction each), then every stale hour after them."""
    with sessions() as session:
        todo = stale_days(session, now, days)
    for day in todo:
        build_day(sessions, day, now)
    with sessions() as session:
        hours = stale_hours(session, now)
    for hour in hours:
        build_hour(sessions, hour, now)
    return Rolled(todo, hours)


def delete_before(sessions: sessionmaker[Session], day: date) -> int:
    """Drop the rollup of the days before ``day`` (the events' retention: a report counts what
    the data still holds); the day rows deleted."""
    start = day_start(day)
    with sessions() as session:
        result = session.execute(delete(NetworkDaily).where(NetworkDaily.day < day))
        n = cast(CursorResult[Any], result).rowcount
        session.execute(delete(NetworkDailyDay).where(NetworkDailyDay.day < day))
        session.execute(delete(NetworkHourly).where(NetworkHourly.hour < start))
        session.execute(delete(NetworkHour).where(NetworkHour.hour < start))
        session.commit()
    return int(n or 0)


def _stored(
    session: Session, grain: _Grain, keys: Iterable[Any]
) -> dict[Any, dict[str, list[Part]]]:
    out: dict[Any, dict[str, list[Part]]] = {}
    wanted = list(keys)
    if not wanted:
        return out
    cols = grain.rows.c
    stmt = (
        select(
            cols[grain.col],
            cols.terminal_id,
            cols.carrier,
            cols.link,
            cols.first_ts,
            cols.first_seq,
            cols.last_ts,
            cols.last_seq,
            *[cols[k] for k in SUMMED],
            cols.rtts,
        )
        .where(cols[grain.col].in_(wanted))
        .order_by(cols[grain.col], cols.terminal_id, cols.part)
        .execution_options(yield_per=10_000)
    )
    for r in session.execute(stmt):
        key, tid, carrier, link, first_ts, first_seq, last_ts, last_seq = r[:8]
        rtts = r[-1]
        if isinstance(rtts, str):
            rtts = json.loads(rtts)
        p = Part(
            key=(carrier, link) if carrier is not None else None,
            first=(first_ts, first_seq) if first_ts is not None else None,
            last=(last_ts, last_seq) if last_ts is not None else None,
            **dict(zip(SUMMED, r[8:-1], strict=True)),
        )
        p.rtts.update({float(v): c for v, c in rtts.items()})
        out.setdefault(key, {}).setdefault(tid, []).append(p)
    return out


def stored_parts(session: Session, days: Iterable[date]) -> dict[date, dict[str, list[Part]]]:
    """Day -> terminal -> its stored parts (pending first, then keyed ones)."""
    return _stored(session, _BY_DAY, days)


def stored_hours(
    session: Session, hours: Iterable[datetime]
) -> dict[datetime, dict[str, list[Part]]]:
    """Hour -> terminal -> its stored parts (pending first, then keyed ones)."""
    return _stored(session, _BY_HOUR, hours)
