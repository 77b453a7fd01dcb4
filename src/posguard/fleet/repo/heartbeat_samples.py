"""The sampled heartbeat history: per terminal and sample period the earliest heartbeat, kept by
ingest in the same transaction as the liveness upsert (:mod:`posguard.fleet.repo.liveness`).

Ingest stores no heartbeat as an event; the network report and the maintenance prediction read
this history instead. ``bucket`` is the start of the period (``heartbeat_sample_s``, default one
hour, in the fleet settings) the heartbeat's own ``ts`` falls in. "Earliest" is by
``(ts, seq)``: a later heartbeat of the period, a redelivery, a late batch from another worker
changes nothing, and an earlier one arriving late replaces the sample, so any order of arrival
ends with the same rows. At one sample an hour a million terminals write 24 M rows a day, where
storing every heartbeat at 60 s would be 1.44 G (docs/scaling.md). On PostgreSQL the table is
partitioned by day of ``bucket`` like ``events`` (revision 0013): ``posguard fleet maintenance
partitions`` creates its days ahead and drops those past the events' retention, no bulk delete.
SQLite keeps one plain table (:func:`delete_before` deletes its old rows a day at a time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Engine, Table, delete, func, select, tuple_
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from posguard.fleet.db.models import HeartbeatSample
from posguard.fleet.diagnosis.shard import slot_of
from posguard.fleet.repo.liveness import Heartbeat

DEFAULT_SAMPLE_S: Final = 3600
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_of(ts: datetime, period_s: int) -> datetime:
    """The start of the sample period ``ts`` falls in (periods aligned on the UTC epoch).

    >>> bucket_of(datetime(2026, 12, 2, 11, 59, 30, tzinfo=UTC), 3600)
    datetime.datetime(2026, 12, 2, 11, 0, tzinfo=datetime.timezone.utc)
    >>> bucket_of(datetime(2026, 12, 2, 11, 59, 30, tzinfo=UTC), 900).minute
    45
    """
    if period_s < 1:
        raise ValueError(f"heartbeat sample period must be >= 1 s, not {period_s}")
    seconds = int((ts - _EPOCH).total_seconds())
    return datetime.fromtimestamp(seconds - seconds % period_s, UTC)


def earliest_per_bucket(
    beats: Iterable[Heartbeat], period_s: int
) -> dict[tuple[str, datetime], Heartbeat]:
    """(terminal, bucket) -> the earliest heartbeat among ``beats`` (by time, then seq)."""
    earliest: dict[tuple[str, datetime], Heartbeat] = {}
    for b in beats:
        key = (b.terminal_id, bucket_of(b.ts, period_s))
        held = earliest.get(key)
        if held is None or (b.ts, b.seq) < (held.ts, held.seq):
            earliest[key] = b
    return earliest


def _upsert(ins: Any) -> Any:
    """``INSERT .. ON CONFLICT (terminal_id, bucket) DO UPDATE .. WHERE`` the new heartbeat is
    earlier than the sample held, returning the rows written."""
    ex = ins.excluded
    return ins.on_conflict_do_update(
        index_elements=[_TABLE.c.terminal_id, _TABLE.c.bucket],
        set_={k: ex[k] for k in ("merchant_id", "ts", "seq", "data", "received_at")},
        where=tuple_(ex.ts, ex.seq) < tuple_(_TABLE.c.ts, _TABLE.c.seq),
    ).returning(_TABLE.c.terminal_id, _TABLE.c.seq)


_TABLE: Final = cast(Table, HeartbeatSample.__table__)
_UPSERT: Final = _upsert(sqlite.insert(_TABLE))
_PG_UPSERT: Final = (
    "INSERT INTO heartbeat_samples AS held (terminal_id, bucket, merchant_id, ts, seq, data, "
    "shard_slot, received_at) "
    "SELECT b.terminal_id, b.bucket, b.merchant_id, b.ts, b.seq, b.data::json, b.shard_slot, "
    "%s FROM unnest(%b::text[], %b::timestamptz[], %b::text[], %b::timestamptz[], "
    "%b::int8[], %b::text[], %b::int2[]) WITH ORDINALITY "
    "AS b(terminal_id, bucket, merchant_id, ts, seq, data, shard_slot, n) ORDER BY b.n "
    "ON CONFLICT (terminal_id, bucket) DO UPDATE SET merchant_id = excluded.merchant_id, "
    "ts = excluded.ts, seq = excluded.seq, data = excluded.data, "
    "received_at = excluded.received_at "
    "WHERE (excluded.ts, excluded.seq) < (held.ts, held.seq) "
    "RETURNING terminal_id, seq"
)
"""PostgreSQL: the same upsert as one constant statement over one array per column, in the
order given (see ``liveness._PG_UPSERT``: psycopg parses it once, the server prepares it)."""


def upsert_samples(
    session: Session, beats: Sequence[Heartbeat], received_at: datetime, period_s: int
) -> set[tuple[str, int]]:
    """Keep each heartbeat of ``beats`` that is the earliest of its terminal's period so far;
    returns the ``(terminal_id, seq)`` written (the others were not earlier than the sample
    held)."""
    earliest = earliest_per_bucket(beats, period_s)
    if not earliest:
        return set()
    ordered = sorted(earliest.items())  # one lock order
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return _pg_upsert(conn, ordered, received_at)
    rows = [
        {
            "terminal_id": tid,
            "bucket": bucket,
            "merchant_id": b.merchant_id,
            "ts": b.ts,
            "seq": b.seq,
            "data": b.data,
            "shard_slot": slot_of(tid),
            "received_at": received_at,
        }
        for (tid, bucket), b in ordered
    ]
    # one statement compiled once, executed for many rows (SQLAlchemy batches them into
    # multi-row VALUES itself): compiling a 1,000-row VALUES per batch cost more than the write
    return {(tid, seq) for tid, seq in conn.execute(_UPSERT, rows)}


def _pg_upsert(
    conn: Connection,
    ordered: Sequence[tuple[tuple[str, datetime], Heartbeat]],
    received_at: datetime,
) -> set[tuple[str, int]]:
    params = (
        received_at,
        [tid for (tid, _), _b in ordered],
        [bucket for (_, bucket), _b in ordered],
        [b.merchant_id for _, b in ordered],
        [b.ts for _, b in ordered],
        [b.seq for _, b in ordered],
        [b.data_text() for _, b in ordered],
        [slot_of(tid) for (tid, _), _b in ordered],
    )
    return {(tid, seq) for tid, seq in conn.exec_driver_sql(_PG_UPSERT, params)}


def delete_before(engine: Engine, before: datetime) -> int:
    """Delete the samples of heartbeats older than ``before``, one day of them per transaction
    (short locks, bounded undo); returns how many were deleted."""
    with engine.connect() as conn:
        oldest = conn.scalar(select(func.min(HeartbeatSample.ts)))
    deleted = 0
    lo = oldest
    while lo is not None and lo < before:
        hi = min(lo + timedelta(days=1), before)
        with engine.begin() as conn:
            gone = conn.execute(delete(HeartbeatSample).where(HeartbeatSample.ts < hi))
            deleted += int(gone.rowcount or 0)
        lo = hi
    return deleted
