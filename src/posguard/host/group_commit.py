"""Group commit on the event loop's thread, with the fsync off it.

Every ledger call runs on the event loop's own thread, inside the transaction of the current
group: the first call of a group opens it (``BEGIN IMMEDIATE``) and schedules the commit for
``commit_turns`` turns of the loop later (3), so every request read in those turns joins the
group. Each group costs the same whatever its size (BEGIN, the RRN write, a COMMIT that writes
every page the group touched, an fsync and its thread's hand-back), so the few more turns,
tens of microseconds when the loop is busy and a few when it is not, bought groups of 27-40
instead of 15-17 at 50 terminals and 5-22 % less CPU a sale in paired runs, with no loss seen
at one terminal (bench/README.md, "Connections as protocols"). A decision
that may fail half-way is a savepoint of its own (:meth:`Ledger.atomic` nested) and rolls
back alone; a card transaction decides before it writes and takes none
(:meth:`Ledger.decision`): should it fail while writing, the whole group rolls back and fails,
as when its COMMIT fails. The group commits once, and only when that commit is durable are
its callers handed their results (``done`` callbacks: the server writes each answer from its
own, with no task or future per request): no answer ever leaves before the decision it
reports is on disk.

Under ``synchronous=FULL`` the COMMIT itself does not wait for the disk: the ledger leaves the
write-ahead log's fsync to this class (:meth:`Ledger.defer_wal_sync`), which runs it on
threads of its own while the loop decides the next groups: each group's fsync starts right
after its COMMIT (up to ``max_syncs`` at once; groups committed while all are busy share the
next one), and the group is answered when that fsync returns. So the disk's latency overlaps
the CPU work and the other groups' fsyncs instead of stalling them, and an answer still means
"on disk". (On the shared test machine, where an fsync takes 0.3 to 20 ms depending on other
work, 4 concurrent fsyncs gave about twice the rate of one at a time at 50 terminals.) The
fsync threads do nothing else: a batch in from a queue, ``fdatasync``, the batch back to the
loop with ``call_soon_threadsafe``. Each time one of them wants the GIL back the loop stalls,
so the less Python they run the better (a thread pool's futures and callbacks cost the loop
3 to 8 % more CPU a sale).

Why not a ledger thread: the decision's SQL takes microseconds (SQLite in process, pages in
cache) while a hand-off to a thread and back costs two wake-ups per request plus GIL
switching; on one loop thread a sale needs none. The journal is flushed between groups (never
inside one: it may share the ledger's file).
"""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import structlog

from posguard.host.journal import HostJournal
from posguard.host.ledger import Ledger

__all__ = ["Done", "GroupCommitter"]

log = structlog.get_logger("posguard.host")

Done = Callable[[bool, Any], None]
"""Called once on the loop with ``(True, result)`` or ``(False, exception)`` when durable."""
_Settled = tuple[Done, bool, Any]


class GroupCommitter:
    """``await committer.submit(fn)`` (or ``committer.run(done, fn)``): ``fn()`` runs now, in the
    open group's transaction; its result (or exception) is returned (or handed to ``done``) once
    that group is durable."""

    def __init__(
        self,
        ledger: Ledger,
        journal: HostJournal,
        *,
        max_group: int = 64,
        journal_flush_s: float = 0.25,
        max_syncs: int = 4,
        commit_turns: int = 3,
    ) -> None:
        self._ledger = ledger
        self._journal = journal
        self._max_group = max_group
        self._commit_turns = max(1, commit_turns)
        self._flush_s = journal_flush_s
        self._tx: AbstractContextManager[None] | None = None  # the open group's transaction
        self._group: list[_Settled] = []
        self._last_flush = time.monotonic()
        self._flush_timer: asyncio.TimerHandle | None = None
        self._stopped = False
        # Groups committed whose fsync has not started yet, and the fsyncs running.
        self._deferred = ledger.defer_wal_sync()
        self._max_syncs = max_syncs
        self._unsynced: list[_Settled] = []
        # Fsync threads (started with the first sync): each takes a committed batch from the
        # queue, fsyncs and hands the batch back to the loop; nothing else runs on them, so
        # they hold the GIL (which the loop then waits for) as briefly as possible.
        self._requests: queue.SimpleQueue[list[_Settled] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = 0
        self._drained: asyncio.Future[None] | None = None
        self.groups = 0
        self.items = 0
        self.syncs = 0

    def run(self, done: Done, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` now, inside the current group's transaction; once that group is
        durable, call ``done(True, result)`` (or ``done(False, exception)``) on the loop. The
        server writes its answers from ``done``: no future or task wake-up per request."""
        if self._stopped:
            raise RuntimeError("the ledger is stopped")
        if self._tx is None:
            tx = self._tx = self._ledger.atomic()
            tx.__enter__()
            asyncio.get_running_loop().call_soon(self._commit_later, tx, self._commit_turns)
        try:
            self._group.append((done, True, fn(*args)))
        except Exception as exc:  # one request's bug fails that request only
            self._group.append((done, False, exc))
        if len(self._group) >= self._max_group:
            self.commit()

    async def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` inside the current group's transaction; return after its COMMIT."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.run(functools.partial(_into, fut), fn, *args)
        return await fut

    def _commit_later(self, tx: AbstractContextManager[None], turns: int) -> None:
        """Commit group ``tx`` after ``turns`` turns of the loop (unless it was committed
        already: full, or the committer stopping)."""
        if self._tx is not tx:
            return
        if turns > 1:
            asyncio.get_running_loop().call_soon(self._commit_later, tx, turns - 1)
        else:
            self.commit()

    def commit(self) -> None:
        """Commit the open group (if any), then settle its callers; flush the journal when due."""
        tx, group = self._tx, self._group
        if tx is None:
            return
        self._tx, self._group = None, []
        try:
            tx.__exit__(None, None, None)
        except Exception as exc:  # the commit itself failed: nothing in the group is durable
            log.exception("ledger group commit failed", size=len(group))
            group = [(done, False, exc) for done, _ok, _value in group]
        self.groups += 1
        self.items += len(group)
        if not self._deferred:
            _settle(group, None)
        else:
            self._unsynced.extend(group)
            if self._in_flight < self._max_syncs:
                self._start_sync()
        self._maybe_flush()

    def _start_sync(self) -> None:
        batch, self._unsynced = self._unsynced, []
        self.syncs += 1
        if not self._threads:
            self._loop = asyncio.get_running_loop()
            self._threads = [
                threading.Thread(target=self._fsyncs, name="host-fsync", daemon=True)
                for _ in range(self._max_syncs)
            ]
            for t in self._threads:
                t.start()
        self._in_flight += 1
        self._requests.put(batch)

    def _fsyncs(self) -> None:
        """An fsync thread: fsync the WAL once per batch taken, then hand the batch back."""
        assert self._loop is not None
        while (batch := self._requests.get()) is not None:
            try:
                self._ledger.sync_wal()
                failed: BaseException | None = None
            except Exception as exc:  # reported to every caller of the batch
                failed = exc
            self._loop.call_soon_threadsafe(self._synced, batch, failed)

    def _synced(self, batch: list[_Settled], failed: BaseException | None) -> None:
        self._in_flight -= 1
        if failed is not None:
            log.error("ledger fsync failed", error=str(failed), size=len(batch))
        _settle(batch, failed)
        if self._unsynced and not self._stopped and self._in_flight < self._max_syncs:
            self._start_sync()
        if not self._in_flight and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _maybe_flush(self) -> None:
        journal = self._journal
        if not journal.pending:
            return
        now = time.monotonic()
        if now - self._last_flush > self._flush_s or journal.pending >= journal.FLUSH_EVERY:
            self._flush()
        elif self._flush_timer is None:
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(self._flush_s, self._flush_when_idle)

    def _flush_when_idle(self) -> None:
        self._flush_timer = None
        if self._tx is None:
            self._flush()
        else:  # a group is open: its commit flushes when due
            self._last_flush = 0.0

    def _flush(self) -> None:
        self._journal.flush()
        self._last_flush = time.monotonic()

    async def stop(self) -> None:
        """Commit what is open, wait until it is durable, flush the journal; later submits are
        refused."""
        self.commit()
        self._stopped = True
        if self._in_flight:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained
        if self._unsynced:  # committed after the last fsync started
            self._ledger.sync_wal()
            _settle(self._unsynced, None)
            self._unsynced = []
        for _t in self._threads:
            self._requests.put(None)
        for t in self._threads:
            t.join()
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self._journal.flush()


def _settle(group: list[_Settled], failed: BaseException | None) -> None:
    """Hand each caller its result, or ``failed`` when the group is not durable."""
    for done, ok, value in group:
        try:
            if failed is not None:
                done(False, failed)
            else:
                done(ok, value)
        except Exception:  # one caller's bug must not keep the others from their answers
            log.exception("ledger caller failed on its result")


def _into(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():  # its caller was cancelled
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)
