"""Heartbeats for a diagnoser: ingest upserts them into ``terminal_liveness`` instead of storing
events rows, so a diagnoser reads them from there: every row of its slots when it starts (however
old: the absence rule is seeded), then each step the rows received since the newest it has seen.
An ingest transaction that took its time stamp first may commit after a later one, so every
``gap_wait / 2`` it reads again the rows of the ``gap_wait * 1.5`` before the newest: a row whose
commit came up to ``gap_wait`` after its time stamp is still found, within ``gap_wait / 2`` of that
commit. A heartbeat already fed is skipped. (It read the last ``gap_wait`` again every second:
at 100,000 terminals five times the rows it fed, most of a shard's reading.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from posguard.fleet.diagnosis.observed import Observed
from posguard.fleet.diagnosis.shard import ShardRole
from posguard.fleet.repo.liveness import Heartbeat, changed_since, upsert_heartbeats


def upsert_liveness(session: Session, events: list[Observed], now: datetime) -> None:
    """Heartbeats found in the events table (stored before ingest upserted liveness itself, or
    written there directly) into ``terminal_liveness``, never over a newer one."""
    beats = [
        Heartbeat(e.terminal_id, e.merchant_id, e.seq, e.ts, e.data)
        for e in events
        if e.kind == "heartbeat"
    ]
    if beats:
        upsert_heartbeats(session, beats, now)


class HeartbeatFeed:
    def __init__(self, role: ShardRole, gap_wait: timedelta) -> None:
        self.role = role
        self.gap_wait = gap_wait
        self.overlap_every = gap_wait / 2
        self.overlap = gap_wait + self.overlap_every
        self.mark: datetime | None = None  # newest received_at read
        self._fed: dict[str, tuple[datetime, int]] = {}  # terminal -> (ts, seq) fed
        self._overlap_at = datetime.min.replace(tzinfo=UTC)  # last re-read

    def all(self, session: Session) -> list[Observed]:
        """Every liveness row of this role's slots, oldest heartbeat first."""
        return self._read(session, None)

    def new(self, session: Session, now: datetime) -> list[Observed]:
        """The heartbeats upserted since the last call, not fed yet."""
        since = self.mark
        if since is not None and now - self._overlap_at >= self.overlap_every:
            since -= self.overlap
            self._overlap_at = now
        return self._read(session, since)

    def _read(self, session: Session, since: datetime | None) -> list[Observed]:
        out = []
        for row in changed_since(session, self.role, since):
            if self.mark is None or row.received_at > self.mark:
                self.mark = row.received_at
            key = (row.last_heartbeat_at, row.seq)
            fed = self._fed.get(row.terminal_id)
            if fed is not None and fed >= key:
                continue
            self._fed[row.terminal_id] = key
            # what a rule reads of a heartbeat: its interval (rules never match status fields)
            data = {} if row.interval_s is None else {"interval_s": row.interval_s}
            out.append(
                Observed(
                    id=0,  # no events row: a heartbeat is known from terminal_liveness only
                    terminal_id=row.terminal_id,
                    merchant_id=row.merchant_id,
                    seq=row.seq,
                    ts=row.last_heartbeat_at,
                    kind="heartbeat",
                    data=data,
                )
            )
        return out
