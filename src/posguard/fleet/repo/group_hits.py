"""The ``group_hits`` table: shards write their per-rule, per-terminal, per-minute counts in
their step's transaction; the correlator reads the rows written since its cursor
(:mod:`posguard.fleet.diagnosis.group_hits`).

A write reads the rows it touches first (one query per 1,000 terminals with a row to write; the
others of the step, whose heartbeats match no correlation, are not read), skips the events those
rows counted already (by sequence number: ``counted_seqs``, else ``seq_hw``), merges and upserts
the rest with fresh ``version`` numbers (one ``nextval`` query and one upsert over arrays on
PostgreSQL; ``counted_seqs`` travels as JSON text). Only the shard owning a terminal writes its
rows, so nothing else writes them meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import String, Table, any_, bindparam, delete, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from posguard.fleet.db.models import GroupHit
from posguard.fleet.diagnosis.correlation import CorrelationEvaluator
from posguard.fleet.diagnosis.group_hits import HitRow, Key, bucket_of, collect, with_seqs
from posguard.fleet.diagnosis.observed import Observed
from posguard.fleet.repo.pg_unnest import UnnestInsert

CHUNK: Final = 1000
_TABLE: Final = cast(Table, GroupHit.__table__)
_COLUMNS: Final = [c.name for c in _TABLE.columns]
_KEY: Final = ("rule_id", "terminal_id", "bucket", "bin6")
_PG_UPSERT: Final = UnnestInsert(
    _TABLE,
    _COLUMNS,
    tail=f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS if c not in _KEY),
)


def _observed(terminal_id: str, ref: dict[str, Any] | None) -> Observed | None:
    if ref is None:
        return None
    return Observed(
        id=int(ref["id"]),
        terminal_id=terminal_id,
        merchant_id="",
        seq=int(ref["seq"]),
        ts=datetime.fromisoformat(ref["ts"]),
        kind=str(ref["kind"]),
        code=ref.get("code"),
    )


def _row(r: Any) -> HitRow:
    return HitRow(
        rule_id=r.rule_id,
        terminal_id=r.terminal_id,
        bucket=r.bucket,
        bin6=r.bin6,
        seq_hw=r.seq_hw,
        hits=r.hits,
        first=_observed(r.terminal_id, r.first),
        last=_observed(r.terminal_id, r.last),
        tries=r.tries,
        tried_at=r.tried_at,
        tried_id=r.tried_id,
        version=r.version,
        counted_seqs=None if r.counted_seqs is None else [int(s) for s in r.counted_seqs],
    )


_PG_STORED: Final = select(_TABLE).where(
    _TABLE.c.rule_id == any_(bindparam("rules", type_=postgresql.ARRAY(String))),
    _TABLE.c.terminal_id == any_(bindparam("ids", type_=postgresql.ARRAY(String))),
    _TABLE.c.bucket >= bindparam("since"),
)
"""PostgreSQL: one array parameter, so the statement's text is the same for any number of
terminals (an expanding ``IN`` is a new text, parsed again by psycopg, at every size); the rules
too, so the primary key (rule, terminal, minute, BIN) finds the rows."""


def _stored(session: Session, rows: Sequence[HitRow]) -> dict[Key, HitRow]:
    """The stored rows of these rows' terminals from their oldest minute on."""
    terminals = sorted({r.terminal_id for r in rows})
    rules = sorted({r.rule_id for r in rows})
    since = min(r.bucket for r in rows)
    pg = session.get_bind().dialect.name == "postgresql"
    out: dict[Key, HitRow] = {}
    for chunk in range(0, len(terminals), CHUNK):
        part = terminals[chunk : chunk + CHUNK]
        if pg:
            found = session.execute(_PG_STORED, {"rules": rules, "ids": part, "since": since})
        else:
            q = select(_TABLE).where(
                _TABLE.c.rule_id.in_(rules),
                _TABLE.c.terminal_id.in_(part),
                _TABLE.c.bucket >= since,
            )
            found = session.execute(q)
        for r in found:
            row = _row(r)
            out[row.key] = row
    return out


def _versions(session: Session, n: int) -> list[int]:
    if session.get_bind().dialect.name == "postgresql":
        return list(
            session.scalars(
                text("SELECT nextval('group_hits_version_seq') FROM generate_series(1, :n)"),
                {"n": n},
            )
        )
    top = int(session.scalar(select(func.max(_TABLE.c.version))) or 0)  # one writer at a time
    return list(range(top + 1, top + n + 1))


def _merge(old: HitRow, new: HitRow) -> HitRow:
    later_try = new.tried_at is not None and (old.tried_at is None or old.tried_at <= new.tried_at)
    return HitRow(
        *old.key,
        seq_hw=max(old.seq_hw, new.seq_hw),
        counted_seqs=(
            None if new.counted_seqs is None else with_seqs(old.counted_seqs, new.counted_seqs)
        ),
        hits=old.hits + new.hits,
        first=old.first or new.first,
        last=new.last or old.last,
        tries=old.tries + new.tries,
        tried_at=new.tried_at if later_try else old.tried_at,
        tried_id=new.tried_id if later_try else old.tried_id,
    )


def publish(
    session: Session,
    correlations: Sequence[CorrelationEvaluator],
    events: Sequence[Observed],
    *,
    shard: str,
    now: datetime,
) -> int:
    """Count ``events`` (a shard's step) into ``group_hits``; returns the rows written."""
    if not correlations or not events:
        return 0
    first = collect(correlations, events)
    if not first:
        return 0
    stored = _stored(session, first)
    rows = collect(correlations, events, stored) if stored else first
    if not rows:
        return 0
    merged = [_merge(stored[r.key], r) if r.key in stored else r for r in rows]
    values = [
        {
            "rule_id": r.rule_id,
            "terminal_id": r.terminal_id,
            "bucket": r.bucket,
            "bin6": r.bin6,
            "shard": shard,
            "seq_hw": r.seq_hw,
            "counted_seqs": r.counted_seqs,
            "hits": r.hits,
            "tries": r.tries,
            "first": r.first.ref() if r.first else None,
            "last": r.last.ref() if r.last else None,
            "tried_at": r.tried_at,
            "tried_id": r.tried_id,
            "version": v,
            "updated_at": now,
        }
        for r, v in zip(merged, _versions(session, len(merged)), strict=True)
    ]
    if session.get_bind().dialect.name == "postgresql":
        _PG_UPSERT.execute(session, values)
        return len(values)
    ins: Any = sqlite.insert(_TABLE)
    stmt = ins.on_conflict_do_update(
        index_elements=[_TABLE.c[k] for k in _KEY],
        set_={c: ins.excluded[c] for c in _COLUMNS if c not in _KEY},
    )
    for chunk in range(0, len(values), CHUNK):
        session.execute(stmt, values[chunk : chunk + CHUNK])
    return len(values)


def read_new(session: Session, cursor: int, gaps: Sequence[int], limit: int) -> list[HitRow]:
    """Rows written since version ``cursor`` (and those of the versions in ``gaps``), oldest
    version first."""
    since = _TABLE.c.version > cursor
    if gaps:
        since = or_(since, _TABLE.c.version.in_(list(gaps)))
    q = select(_TABLE).where(since).order_by(_TABLE.c.version).limit(limit)
    return [_row(r) for r in session.execute(q)]


def read_recent(
    session: Session, since: datetime, after: int, upto: int, limit: int
) -> list[HitRow]:
    """Rows of the minutes from ``since`` on written at versions in ``(after, upto]`` (a
    warm-up), oldest version first, ``limit`` at a time."""
    q = (
        select(_TABLE)
        .where(
            _TABLE.c.bucket >= bucket_of(since),
            _TABLE.c.version > after,
            _TABLE.c.version <= upto,
        )
        .order_by(_TABLE.c.version)
        .limit(limit)
    )
    return [_row(r) for r in session.execute(q)]


def first_cursor(session: Session, since: datetime) -> int:
    """Where a correlator that never saved a cursor starts: before the rows written since
    ``since``, else after the newest."""
    first = session.scalar(select(func.min(_TABLE.c.version)).where(_TABLE.c.updated_at >= since))
    if first is not None:
        return int(first) - 1
    return int(session.scalar(select(func.max(_TABLE.c.version))) or 0)


def written_at(session: Session, version: int) -> datetime | None:
    """When the newest row at or below ``version`` was written (the warm-up's anchor)."""
    return session.scalar(
        select(_TABLE.c.updated_at)
        .where(_TABLE.c.version <= version)
        .order_by(_TABLE.c.version.desc())
        .limit(1)
    )


def delete_before(session: Session, bucket: datetime) -> int:
    """Forget the counts of minutes before ``bucket`` (the correlator, past every window), but
    the newest row: SQLite numbers versions from the highest one left, which must not go back
    below the correlator's cursor."""
    newest = select(func.max(_TABLE.c.version)).scalar_subquery()
    gone = session.execute(
        delete(_TABLE).where(_TABLE.c.bucket < bucket, _TABLE.c.version < newest)
    )
    return int(getattr(gone, "rowcount", 0) or 0)
