"""Terminal liveness: one row per terminal holding its newest heartbeat (time, seq, the status
fields it carried), upserted by ingest instead of storing every heartbeat as an event.

"Newest" is by ``(ts, seq)``: an older heartbeat (a QoS-1 redelivery, an outbox resend, a late
batch from another worker) never overwrites a newer one, so any order of arrival ends with the
same row. A shard reads the rows upserted since its last step by ``received_at``
(:func:`changed_since`); absence rules, health states and the terminal page read them too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, select, tuple_
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from posguard.fleet.db.models import TerminalLiveness
from posguard.fleet.diagnosis.shard import ShardRole, slot_of


@dataclass(frozen=True, slots=True)
class Heartbeat:
    terminal_id: str
    merchant_id: str
    seq: int
    ts: datetime
    data: dict[str, Any]
    data_json: str | None = field(default=None, compare=False, repr=False)
    """``data`` as the JSON text it arrived in, when the caller has it (ingest does)."""

    def data_text(self) -> str:
        """``data`` as JSON text: as it arrived, or serialised as SQLAlchemy's JSON type does."""
        return self.data_json if self.data_json is not None else json.dumps(self.data)


def interval_of(data: dict[str, Any]) -> float | None:
    """The heartbeat's own ``interval_s`` when it says a number.

    >>> interval_of({"interval_s": 30}), interval_of({"interval_s": True}), interval_of({})
    (30.0, None, None)
    """
    raw = data.get("interval_s")
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def newest_per_terminal(beats: Iterable[Heartbeat]) -> dict[str, Heartbeat]:
    """terminal -> its newest heartbeat among ``beats`` (by time, then seq)."""
    newest: dict[str, Heartbeat] = {}
    for b in beats:
        held = newest.get(b.terminal_id)
        if held is None or (b.ts, b.seq) > (held.ts, held.seq):
            newest[b.terminal_id] = b
    return newest


def _upsert(ins: Any) -> Any:
    """``INSERT .. ON CONFLICT (terminal_id) DO UPDATE .. WHERE`` the new heartbeat is newer
    than the row held, returning the rows written."""
    ex = ins.excluded
    return ins.on_conflict_do_update(
        index_elements=[_TABLE.c.terminal_id],
        set_={
            k: ex[k]
            for k in (
                "merchant_id",
                "last_heartbeat_at",
                "received_at",
                "seq",
                "interval_s",
                "data",
            )
        },
        where=tuple_(_TABLE.c.last_heartbeat_at, _TABLE.c.seq)
        < tuple_(ex.last_heartbeat_at, ex.seq),
    ).returning(_TABLE.c.terminal_id, _TABLE.c.seq)


_TABLE: Final = cast(Table, TerminalLiveness.__table__)
_UPSERT: Final = _upsert(sqlite.insert(_TABLE))
_PG_UPSERT: Final = (
    "INSERT INTO terminal_liveness AS held (terminal_id, merchant_id, last_heartbeat_at, "
    "received_at, seq, interval_s, data, shard_slot) "
    "SELECT b.terminal_id, b.merchant_id, b.ts, %s, b.seq, b.interval_s, b.data::json, "
    "b.shard_slot FROM unnest(%b::text[], %b::text[], %b::timestamptz[], %b::int8[], "
    "%b::float8[], %b::text[], %b::int2[]) WITH ORDINALITY "
    "AS b(terminal_id, merchant_id, ts, seq, interval_s, data, shard_slot, n) ORDER BY b.n "
    "ON CONFLICT (terminal_id) DO UPDATE SET merchant_id = excluded.merchant_id, "
    "last_heartbeat_at = excluded.last_heartbeat_at, received_at = excluded.received_at, "
    "seq = excluded.seq, interval_s = excluded.interval_s, data = excluded.data "
    "WHERE (held.last_heartbeat_at, held.seq) < (excluded.last_heartbeat_at, excluded.seq) "
    "RETURNING terminal_id, seq"
)
"""PostgreSQL: the same upsert as one constant statement over one array per column, in the
order given. Its text never changes, so psycopg parses it once and the server prepares it; the
multi-row ``VALUES`` SQLAlchemy writes for many rows was re-parsed by psycopg on every call
(too long for its cache): ~9 % of an ingest worker's CPU."""


def upsert_heartbeats(
    session: Session, beats: Sequence[Heartbeat], received_at: datetime
) -> set[tuple[str, int]]:
    """Upsert each terminal's newest heartbeat of ``beats`` where it is newer than the row held;
    returns the ``(terminal_id, seq)`` that were written (the others said nothing new)."""
    newest = newest_per_terminal(beats)
    if not newest:
        return set()
    ordered = sorted(newest.values(), key=lambda b: b.terminal_id)  # one lock order
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return _pg_upsert(conn, ordered, received_at)
    rows = [
        {
            "terminal_id": b.terminal_id,
            "merchant_id": b.merchant_id,
            "last_heartbeat_at": b.ts,
            "received_at": received_at,
            "seq": b.seq,
            "interval_s": interval_of(b.data),
            "data": b.data,
            "shard_slot": slot_of(b.terminal_id),
        }
        for b in ordered
    ]
    # one statement compiled once, executed for many rows (SQLAlchemy batches them into
    # multi-row VALUES itself): compiling a 1,000-row VALUES per batch cost ~7x the write
    return {(tid, seq) for tid, seq in conn.execute(_UPSERT, rows)}


def _pg_upsert(
    conn: Connection, ordered: Sequence[Heartbeat], received_at: datetime
) -> set[tuple[str, int]]:
    params = (
        received_at,
        [b.terminal_id for b in ordered],
        [b.merchant_id for b in ordered],
        [b.ts for b in ordered],
        [b.seq for b in ordered],
        [interval_of(b.data) for b in ordered],
        [b.data_text() for b in ordered],
        [slot_of(b.terminal_id) for b in ordered],
    )
    return {(tid, seq) for tid, seq in conn.exec_driver_sql(_PG_UPSERT, params)}


_FEED_COLUMNS: Final = (
    TerminalLiveness.terminal_id,
    TerminalLiveness.merchant_id,
    TerminalLiveness.seq,
    TerminalLiveness.last_heartbeat_at,
    TerminalLiveness.received_at,
    TerminalLiveness.interval_s,
)


def changed_since(session: Session, role: ShardRole, since: datetime | None) -> Sequence[Any]:
    """The liveness rows of ``role``'s slots received after ``since`` (all of them: None),
    oldest heartbeat first, as plain rows of the columns a diagnoser reads (a shard reads
    ~2,000 a second at 100,000 terminals: ORM objects cost it more than the query). Not the
    heartbeat's status fields: rules match events by kind, code and category, and the absence
    rule reads only the interval, a column of its own."""
    q = select(*_FEED_COLUMNS)
    if since is not None:
        q = q.where(TerminalLiveness.received_at > since)
    if role.filtered:
        q = q.where(TerminalLiveness.shard_slot % role.of == role.shard)
    return session.execute(q.order_by(TerminalLiveness.last_heartbeat_at)).all()


def latest(session: Session, terminal_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """terminal -> its liveness row (all terminals, or those given)."""
    q = select(TerminalLiveness)
    if terminal_ids is not None:
        q = q.where(TerminalLiveness.terminal_id.in_(list(terminal_ids)))
    return {row.terminal_id: row for row in session.scalars(q)}
