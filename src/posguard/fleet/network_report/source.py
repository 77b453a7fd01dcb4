"""The network report from the fleet database: one pass over the window's sampled heartbeats
(``heartbeat_samples``: per terminal the earliest heartbeat of each sample period, one hour by
default; ingest stores no heartbeat as an event) merged with its transactions and faults
(``events``), in terminal and time order.

So RTT p50/p95, the weak-signal share and the failover share are over the sampled heartbeats,
one a terminal per period, not every heartbeat sent: each terminal weighs by the time it
reported, not by how often it beat.

A merchant's report has the rows of its own terminals only; the fleet's rate, and the other
carriers a recommendation compares with, stay the whole fleet's (a shop is judged against the
estate, and told which carrier does better around it). The pass reads the whole window; for
estates of hundreds of thousands of terminals run it off-peak (it is a report, not a page that
refreshes).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import EventRow, HeartbeatSample, Terminal
from posguard.fleet.network_report.aggregate import KINDS, Aggregator
from posguard.fleet.network_report.rows import NetworkReport, build_row, worst_first

MAX_WEEKS: Final = 26
_CHUNK: Final = 5000
_HEARTBEAT: Final = "heartbeat"
Row = tuple[str, datetime, int, str, str | None, dict[str, Any] | None]


def _window_rows(session: Session, since: datetime, until: datetime) -> Iterator[Row]:
    """``(terminal, ts, seq, kind, code, data)`` of the window's sampled heartbeats and its
    transactions and faults, ordered by terminal, time, seq (two ordered reads, merged)."""
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
    beats: Iterator[Row] = (
        (tid, ts, seq, _HEARTBEAT, None, data) for tid, ts, seq, data in session.execute(samples)
    )
    others: Iterator[Row] = (tuple(r) for r in session.execute(events))
    return heapq.merge(beats, others, key=lambda r: (r[0], r[1], r[2]))


def network_report(
    session: Session, *, now: datetime, weeks: int = 4, merchant_id: str | None = None
) -> NetworkReport:
    """The report of the ``weeks`` weeks up to ``now``; ``merchant_id`` keeps its rows only."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be 1..{MAX_WEEKS}, not {weeks}")
    since = now - timedelta(days=7 * weeks)
    terminals = {
        tid: (area, mid)
        for tid, area, mid in session.execute(
            select(Terminal.id, Terminal.area, Terminal.merchant_id)
        )
    }
    fleet = Aggregator(since=since, weeks=weeks)
    own = Aggregator(since=since, weeks=weeks) if merchant_id is not None else fleet
    for tid, ts, _seq, kind, code, data in _window_rows(session, since, now):
        area, mid = terminals.get(tid, ("", ""))
        fleet.add(tid, area, ts, kind, code, data or {})
        if own is not fleet and mid == merchant_id:
            own.add(tid, area, ts, kind, code, data or {})
    everyone = fleet.groups()
    attempts = sum(g.attempts for g in everyone.values())
    failures = sum(g.timeouts + g.resets for g in everyone.values())
    fleet_rate = round(1000.0 * failures / attempts, 2) if attempts else 0.0
    rows = [
        build_row(key, g, fleet_per_1000=fleet_rate, peers=everyone)
        for key, g in own.groups().items()
    ]
    return NetworkReport(
        since=since,
        until=now,
        weeks=weeks,
        merchant_id=merchant_id,
        fleet_attempts=attempts,
        fleet_failures_per_1000=fleet_rate,
        rows=worst_first(rows),
    )
