"""The ledger thread, with group commit.

One thread owns the ledger (SQLite is single-writer anyway). It takes every request that is
waiting (up to ``max_group``), runs them inside one outer transaction where each decision is a
savepoint (so one failing decision rolls back alone), commits once, and only then hands the
answers back. With many terminals the fsync of ``synchronous=FULL`` is shared by the group;
no answer ever leaves before the decision it reports is durable.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from posguard.host.journal import HostJournal
from posguard.host.ledger import Ledger

__all__ = ["LedgerWorker"]

log = structlog.get_logger("posguard.host")

_Item = tuple[Callable[[], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]


class LedgerWorker:
    def __init__(
        self,
        ledger: Ledger,
        journal: HostJournal,
        *,
        max_group: int = 64,
        journal_flush_s: float = 0.25,
    ) -> None:
        self._ledger = ledger
        self._journal = journal
        self._max_group = max_group
        self._flush_s = journal_flush_s
        self._q: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="host-ledger", daemon=True)
        self._thread.start()
        self.groups = 0
        self.items = 0

    async def submit(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the ledger thread inside the current group's transaction."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._q.put((fn, fut, loop))
        return await fut

    def stop(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self._q.get(timeout=self._flush_s)
            except queue.Empty:
                self._journal.flush()
                last_flush = time.monotonic()
                continue
            if item is None:
                break
            group = [item]
            stop = False
            while len(group) < self._max_group:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            self._run_group(group)
            if (
                time.monotonic() - last_flush > self._flush_s
                or self._journal.pending >= self._journal.FLUSH_EVERY
            ):
                self._journal.flush()
                last_flush = time.monotonic()
            if stop:
                break
        self._journal.flush()

    def _run_group(self, group: list[_Item]) -> None:
        results: list[tuple[bool, Any]] = []
        try:
            with self._ledger.atomic():
                for fn, _fut, _loop in group:
                    try:
                        results.append((True, fn()))
                    except Exception as exc:  # one request's bug fails that request only
                        results.append((False, exc))
        except Exception as exc:  # the commit itself failed: nothing in the group is durable
            log.exception("ledger group commit failed", size=len(group))
            results = [(False, exc)] * len(group)
        self.groups += 1
        self.items += len(group)
        # One wake-up per event loop per group (not one per request): each
        # call_soon_threadsafe writes to the loop's self-pipe.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]]
        by_loop = {}
        for (ok, value), (_fn, fut, loop) in zip(results, group, strict=True):
            by_loop.setdefault(loop, []).append((fut, ok, value))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle_all, settled)


def _settle_all(settled: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in settled:
        if fut.done():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
