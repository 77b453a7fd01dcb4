"""The network report's daily rollup: each past UTC day counted once (``parts.slice_parts``
over the day's sampled heartbeats and events) and stored per terminal (``network_daily``), so
a report reads a row per terminal-day instead of every heartbeat sample and transaction.

Kept current, idempotently:

- :func:`roll_up` (``posguard fleet maintenance network-rollup``, or any caller on a timer)
  builds each day of the last :data:`ROLLUP_DAYS` that has ended (plus :data:`GRACE`) and is
  not current: in one transaction it reads the day's ``gen``, then the day's data, replaces the
  day's rows and records ``built_gen = gen``. Killed at any point, it leaves the day as it was
  (rebuilt next time); run twice, it writes the same rows.
- :func:`note_late` (ingest, in the batch's transaction) bumps ``gen`` of every past day the
  batch brings an event or heartbeat for, so a day that gets data after it was built (a
  terminal's outbox after an outage, a redelivery) is no longer current. Today's traffic
  touches nothing.

A report uses a day's rows only while it is current (``built_gen == gen``) and counts any other
day straight from the data, so its figures never depend on when the rollup last ran. Because
``gen`` is read before the data, an event stored while a day is being built either is in the
build or leaves the day not current.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, cast

from sqlalchemy import CursorResult, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from posguard.fleet.db.models import NetworkDaily, NetworkDailyDay
from posguard.fleet.network_report.aggregate import SUMMED
from posguard.fleet.network_report.parts import Part, slice_parts
from posguard.fleet.network_report.raw import window_rows

ROLLUP_DAYS: Final = 26 * 7 + 1  # the longest report window (MAX_WEEKS) and its first day
GRACE: Final = timedelta(hours=1)
_DAYS: Final = cast(Table, NetworkDailyDay.__table__)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def _bump(session: Session, days: Sequence[date]) -> None:
    rows = [{"day": d, "gen": 1} for d in days]
    if session.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(_DAYS).values(rows)
        session.execute(
            pg.on_conflict_do_update(index_elements=[_DAYS.c.day], set_={"gen": _DAYS.c.gen + 1})
        )
    else:
        lite = sqlite.insert(_DAYS).values(rows)
        session.execute(
            lite.on_conflict_do_update(index_elements=[_DAYS.c.day], set_={"gen": _DAYS.c.gen + 1})
        )


def note_late(session: Session, times: Iterable[datetime], now: datetime) -> None:
    """Mark the past days among ``times`` (of events or heartbeats being stored) changed."""
    today = day_start(now.astimezone(UTC).date())
    late = {t.astimezone(UTC).date() for t in times if t < today}
    if late:
        _bump(session, sorted(late))


def current_days(session: Session, days: Iterable[date]) -> set[date]:
    """Which of ``days`` have current rows."""
    wanted = list(days)
    if not wanted:
        return set()
    stmt = select(NetworkDailyDay.day, NetworkDailyDay.gen, NetworkDailyDay.built_gen).where(
        NetworkDailyDay.day.in_(wanted)
    )
    return {d for d, gen, built in session.execute(stmt) if built is not None and built == gen}


def _row(day: date, tid: str, n: int, p: Part) -> dict[str, Any]:
    carrier, link = p.key if p.key is not None else (None, None)
    return {
        "day": day,
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


def _ensure_mark(session: Session, day: date) -> None:
    session.execute(
        sqlite.insert(_DAYS).values(day=day, gen=0).on_conflict_do_nothing()
        if session.get_bind().dialect.name != "postgresql"
        else postgresql.insert(_DAYS).values(day=day, gen=0).on_conflict_do_nothing()
    )


def count_day(session: Session, day: date) -> tuple[int, list[dict[str, Any]]]:
    """``day``'s ``gen`` and then its rows counted from the data (reads only)."""
    gen = session.execute(
        select(NetworkDailyDay.gen).where(NetworkDailyDay.day == day)
    ).scalar_one_or_none()
    start = day_start(day)
    parts = slice_parts(window_rows(session, start, start + timedelta(days=1)))
    rows = [
        _row(day, tid, n, p)
        for tid, mine in parts.items()
        for n, p in enumerate(sorted(mine, key=lambda p: p.key is not None))
    ]
    return gen or 0, rows


def write_day(
    session: Session, day: date, gen: int, rows: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Replace ``day``'s rows and mark them built from ``gen`` (the caller commits)."""
    _ensure_mark(session, day)
    session.execute(delete(NetworkDaily).where(NetworkDaily.day == day))
    for i in range(0, len(rows), 5000):
        session.execute(insert(NetworkDaily), rows[i : i + 5000])
    session.execute(
        update(NetworkDailyDay)
        .where(NetworkDailyDay.day == day)
        .values(built_gen=gen, built_at=now)
    )


def build_day(sessions: sessionmaker[Session], day: date, now: datetime) -> int:
    """Count ``day`` in a read-only transaction, then write it in a short one (ingest never
    waits for a count; on SQLite a reader that then writes could lose its snapshot); the rows
    written. Data stored in between bumps ``gen`` past the one read: the day stays stale."""
    with sessions() as session:
        gen, rows = count_day(session, day)
    with sessions() as session:
        write_day(session, day, gen, rows, now)
        session.commit()
    return len(rows)


def stale_days(session: Session, now: datetime, days: int = ROLLUP_DAYS) -> list[date]:
    """The ended days of the last ``days`` whose rows are missing or not current."""
    last = (now - GRACE).astimezone(UTC).date() - timedelta(days=1)
    wanted = [last - timedelta(days=i) for i in range(days)]
    fresh = current_days(session, wanted)
    return sorted(d for d in wanted if d not in fresh)


def roll_up(
    sessions: sessionmaker[Session], now: datetime, *, days: int = ROLLUP_DAYS
) -> list[date]:
    """Build every stale day (one transaction each); the days built."""
    with sessions() as session:
        todo = stale_days(session, now, days)
    for day in todo:
        build_day(sessions, day, now)
    return todo


def delete_before(sessions: sessionmaker[Session], day: date) -> int:
    """Drop the rollup of the days before ``day`` (the events' retention: a report counts what
    the data still holds); the rows deleted."""
    with sessions() as session:
        result = session.execute(delete(NetworkDaily).where(NetworkDaily.day < day))
        n = cast(CursorResult[Any], result).rowcount
        session.execute(delete(NetworkDailyDay).where(NetworkDailyDay.day < day))
        session.commit()
    return int(n or 0)


def stored_parts(session: Session, days: Iterable[date]) -> dict[date, dict[str, list[Part]]]:
    """Day -> terminal -> its stored parts (pending first, then keyed ones)."""
    out: dict[date, dict[str, list[Part]]] = {}
    wanted = list(days)
    if not wanted:
        return out
    cols = NetworkDaily.__table__.c
    stmt = (
        select(
            cols.day,
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
        .where(cols.day.in_(wanted))
        .order_by(cols.day, cols.terminal_id, cols.part)
        .execution_options(yield_per=10_000)
    )
    for r in session.execute(stmt):
        day, tid, carrier, link, first_ts, first_seq, last_ts, last_seq = r[:8]
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
        out.setdefault(day, {}).setdefault(tid, []).append(p)
    return out
