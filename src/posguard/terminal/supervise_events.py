"""Where the watchdog's own events go: the terminal's outbox, written by a thread of its own.

The supervisor must outlive any trouble with its event store -- an outbox locked by another
process (SQLite then waits 5 s and fails), a full disk -- and must not stop watching while
a write waits. So ``emit`` only queues the event and logs it; a writer thread stores the
queue in order, and an event it cannot store stays at the head and is tried again with a
backoff (logged each time), so nothing is lost while the outbox is locked. Beyond
``max_pending`` queued events the oldest is dropped, and that is logged too.
"""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path
from typing import Any

from posguard.common.events import EventKind
from posguard.terminal.agent.outbox import Outbox

log = logging.getLogger("posguard.terminal.watchdog")

_Pending = tuple[EventKind, str | None, dict[str, Any]]


class SupervisorEvents:
    """An ``emit`` hook over the outbox at ``target`` (None: events are only logged)."""

    def __init__(
        self,
        target: Path | None,
        terminal_id: str,
        merchant_id: str,
        *,
        max_pending: int = 1000,
        retry_s: float = 0.5,
    ) -> None:
        self.target = target
        self.terminal_id = terminal_id
        self.merchant_id = merchant_id
        self.max_pending = max_pending
        self.retry_s = retry_s
        self.failures = 0
        self.stored = 0
        self._box: Outbox | None = None
        self._pending: collections.deque[_Pending] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        if target is not None:
            self._thread = threading.Thread(target=self._write_loop, name="watchdog-events")
            self._thread.daemon = True
            self._thread.start()

    @classmethod
    def from_options(
        cls, config: Path | None, outbox: Path | None, terminal_id: str, merchant_id: str
    ) -> SupervisorEvents:
        """``--outbox`` wins; else the outbox of the service config (``--config``)."""
        if config is not None:
            from posguard.terminal.service import load_service_config

            cfg = load_service_config(config)
            terminal_id, merchant_id = cfg.terminal.terminal_id, cfg.terminal.merchant_id
            if outbox is None:
                outbox = cfg.service.data_dir / "outbox.db"
        return cls(outbox, terminal_id, merchant_id)

    def __call__(self, kind: EventKind, code: str | None = None, **data: Any) -> object:
        level = logging.WARNING if kind is EventKind.FAULT else logging.INFO
        log.log(level, "watchdog %s %s %s", kind.value, code or "", data)
        if self._thread is None:
            return None
        with self._cond:
            if len(self._pending) >= self.max_pending:
                dropped = self._pending.popleft()
                log.error("watchdog: event queue full, dropped %s %s", dropped[0], dropped[1])
            self._pending.append((kind, code, data))
            self._cond.notify()
        return None

    def _store(self, event: _Pending) -> None:
        if self._box is None:
            assert self.target is not None
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self._box = Outbox(self.target, self.terminal_id, self.merchant_id)
        kind, code, data = event
        self._box.emit(kind, code, **data)

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                event = self._pending[0]
            try:
                self._store(event)
            except Exception as exc:  # locked, full, broken: keep it and try again
                self.failures += 1
                log.warning("watchdog: cannot store %s %s yet: %s", event[0], event[1], exc)
                with self._cond:
                    if self._closing:
                        return
                    self._cond.wait(self.retry_s)
                continue
            self.stored += 1
            with self._cond:
                if self._pending and self._pending[0] is event:
                    self._pending.popleft()
                self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until every queued event is stored; True if so."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Store what is queued (for up to ``timeout`` s), then stop the writer."""
        if self._thread is not None:
            self.flush(timeout)
            with self._cond:
                self._closing = True
                left = len(self._pending)
                self._cond.notify_all()
            self._thread.join(timeout)
            if left:
                log.error("watchdog: %d event(s) could not be stored before exit", left)
        if self._box is not None:
            try:
                self._box.close()
            except Exception:
                log.exception("watchdog: closing the outbox failed")
            self._box = None
