"""In-memory wizard sessions with a time-to-live and a size cap.

Holds only :class:`~posguard.kb.wizard.WizardState` (plain, serialisable data), so a
database-backed store can replace it with the same three methods.

>>> from datetime import UTC, datetime
>>> t = [0.0]
>>> store = SessionStore(ttl_s=60, max_sessions=2, clock=lambda: t[0])
>>> from posguard.kb.wizard import Status, WizardState
>>> mk = lambda sid: WizardState(session_id=sid, code="NET.X1", step_index=0,
...                              status=Status.ASKING, started_at=datetime(2026, 1, 1, tzinfo=UTC))
>>> store.put(mk("a")); store.put(mk("b")); store.put(mk("c"))
>>> store.get("a") is None, store.get("c") is not None   # "a" was the oldest: evicted
(True, True)
>>> t[0] = 61.0
>>> store.get("c") is None                               # expired
True
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from posguard.kb.wizard import WizardState


class SessionStore:
    """Least-recently-used sessions, each forgotten ``ttl_s`` seconds after its last use."""

    def __init__(
        self,
        *,
        ttl_s: float = 1800.0,
        max_sessions: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0 or max_sessions < 1:
            raise ValueError("ttl_s must be > 0 and max_sessions >= 1")
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, WizardState]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._items)

    def _purge(self, now: float) -> None:
        while self._items:
            sid, (touched, _) = next(iter(self._items.items()))
            if now - touched < self.ttl_s:
                break
            del self._items[sid]

    def put(self, state: WizardState) -> None:
        """Store (or replace) a session; the least recently used one goes when full."""
        with self._lock:
            now = self._clock()
            self._purge(now)
            self._items[state.session_id] = (now, state)
            self._items.move_to_end(state.session_id)
            while len(self._items) > self.max_sessions:
                self._items.popitem(last=False)

    def get(self, session_id: str) -> WizardState | None:
        """The session, or None when unknown or expired; a hit renews its time-to-live."""
        with self._lock:
            now = self._clock()
            self._purge(now)
            item = self._items.get(session_id)
            if item is None:
                return None
            self._items[session_id] = (now, item[1])
            self._items.move_to_end(session_id)
            return item[1]

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._items.pop(session_id, None)
