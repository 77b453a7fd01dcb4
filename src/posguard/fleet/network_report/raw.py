"""What the network report counts, read straight from the fleet database for a time range:
the sampled heartbeats (``heartbeat_samples``: per terminal the earliest heartbeat of each
sample period; ingest stores no heartbeat as an event) merged with the transactions and faults
(``events``), in terminal, time and seq order (two ordered reads)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import EventRow, HeartbeatSample
from posguard.fleet.network_report.aggregate import KINDS
from posguard.fleet.network_report.parts import RawRow

_CHUNK: Final = 5000
_HEARTBEAT: Final = "heartbeat"


def window_rows(session: Session, since: datetime, until: datetime) -> Iterator[RawRow]:
    """``(terminal, ts, seq, kind, code, data)`` of ``[since, until)``; on a tie of terminal,
    time and seq the heartbeat comes first."""
    samples = (
        select(
            HeartbeatSample.terminal_id,
            HeartbeatSample.ts,
            HeartbeatSample.seq,
            HeartbeatSample.data,
        )
        .where(HeartbeatSample.ts >= since, HeartbeatSample.ts < until)
        .order_by(HeartbeatSample.terminal_id, HeartbeatSample.ts, HeartbeatSample.seq)
        .execution_options(yield_per=_CHUNK)
    )
    events = (
        select(
            EventRow.terminal_id,
            EventRow.ts,
            EventRow.seq,
            EventRow.kind,
            EventRow.code,
            EventRow.data,
        )
        .where(
            EventRow.ts >= since,
            EventRow.ts < until,
            EventRow.kind.in_([k for k in KINDS if k != _HEARTBEAT]),
        )
        .order_by(EventRow.terminal_id, EventRow.ts, EventRow.seq)
        .execution_options(yield_per=_CHUNK)
    )
    beats: Iterator[RawRow] = (
        (tid, ts, seq, _HEARTBEAT, None, data) for tid, ts, seq, data in session.execute(samples)
    )
    others: Iterator[RawRow] = (
        (tid, ts, seq, kind, code, data)
        for tid, ts, seq, kind, code, data in session.execute(events)
    )
    return heapq.merge(beats, others, key=lambda r: (r[0], r[1], r[2]))
