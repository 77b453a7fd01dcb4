"""The correlator's input: the shards' counts (``group_hits``), not the events table.

The correlator's cursor in ``diagnosis_state`` is a ``group_hits`` version (the shards' writes
commit out of order on PostgreSQL like events do, so the service's gap handling applies as is).
On start the rows of the last ``replay_s`` up to the cursor rebuild the groups' windows (nothing
is recorded); the correlator also forgets the counts of minutes past every window, once a minute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from posguard.fleet.diagnosis.correlation import CorrelationEvaluator
from posguard.fleet.diagnosis.group_hits import HitReader, HitRow
from posguard.fleet.diagnosis.observed import Decision
from posguard.fleet.repo import group_hits as hits_repo

KEEP = timedelta(days=1)  # counts kept in the table (a warm-up reads replay_s of them)
REMEMBER = timedelta(hours=2)  # rows remembered in memory: past the longest window
PRUNE_EVERY = timedelta(minutes=1)


class HitFeed:
    def __init__(self, correlations: Sequence[CorrelationEvaluator], batch: int) -> None:
        self.reader = HitReader(correlations)
        self.batch = batch
        self._pruned_at: datetime | None = None

    def warm_up(
        self,
        session: Session,
        cursor: int,
        gaps: set[int],
        since: datetime,
        tick: Callable[[datetime], object],
    ) -> int:
        """Feed the rows of the minutes since ``since`` up to ``cursor`` (not those in
        ``gaps``), ticking the clock at their events' time; returns the rows fed."""
        after, count = 0, 0
        while True:
            rows = hits_repo.read_recent(session, since, after, cursor, self.batch)
            if not rows:
                return count
            after = rows[-1].version
            fed = [r for r in rows if r.version not in gaps]
            self.reader.observe(fed)
            count += len(fed)
            latest = self.latest(fed)
            if latest is not None:
                tick(latest)

    def new(self, session: Session, cursor: int, gaps: Sequence[int]) -> list[HitRow]:
        return hits_repo.read_new(session, cursor, gaps, self.batch)

    def observe(self, rows: Sequence[HitRow]) -> list[Decision]:
        return self.reader.observe(rows)

    @staticmethod
    def latest(rows: Sequence[HitRow]) -> datetime | None:
        times = [r.last.ts for r in rows if r.last is not None]
        return max(times) if times else None

    def prune(self, session: Session, now: datetime) -> None:
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        hits_repo.delete_before(session, now - KEEP)
        self.reader.forget_before(now - REMEMBER)
