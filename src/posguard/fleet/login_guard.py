"""Password guessing is slowed down: after ``max_failures`` wrong passwords for one username
from one client address within ``window_s``, that pair is refused for ``lockout_s``.

Kept in memory per process (bounded), which is what one fleet process needs; behind several
workers the same limits belong in the reverse proxy or a shared store. A success clears the
pair. The answer while locked out is the same whether the username exists or not.

>>> from datetime import UTC, datetime, timedelta
>>> from posguard.fleet.clock import FakeClock
>>> clock = FakeClock(datetime(2026, 11, 25, tzinfo=UTC))
>>> guard = LoginGuard(clock, max_failures=2, window_s=60, lockout_s=300)
>>> key = ("ops", "10.0.0.9")
>>> guard.failed(key); guard.retry_after(key) is None
True
>>> guard.failed(key); guard.retry_after(key)
300
>>> _ = clock.advance(301)
>>> guard.retry_after(key) is None
True
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from datetime import datetime, timedelta

from posguard.fleet.clock import Clock

Key = tuple[str, str]  # (username, client address)


class LoginGuard:
    def __init__(
        self,
        clock: Clock,
        *,
        max_failures: int = 5,
        window_s: float = 300.0,
        lockout_s: float = 300.0,
        max_tracked: int = 10_000,
    ) -> None:
        self.clock = clock
        self.max_failures = max_failures
        self.window = timedelta(seconds=window_s)
        self.lockout = timedelta(seconds=lockout_s)
        self.max_tracked = max_tracked
        self._failures: OrderedDict[Key, deque[datetime]] = OrderedDict()
        self._locked: dict[Key, datetime] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: Key) -> int | None:
        """Seconds until ``key`` may try again, or None when it may try now."""
        with self._lock:
            until = self._locked.get(key)
            if until is None:
                return None
            left = (until - self.clock.now()).total_seconds()
            if left <= 0:
                del self._locked[key]
                return None
            return max(1, math.ceil(left))

    def failed(self, key: Key) -> None:
        now = self.clock.now()
        with self._lock:
            times = self._failures.pop(key, None) or deque()
            times.append(now)
            while times and now - times[0] > self.window:
                times.popleft()
            if len(times) >= self.max_failures:
                self._locked[key] = now + self.lockout
                times.clear()
            else:
                self._failures[key] = times
            while len(self._failures) > self.max_tracked:  # oldest first: memory stays bounded
                self._failures.popitem(last=False)
            if len(self._locked) > self.max_tracked:
                for stale in [k for k, t in self._locked.items() if t <= now]:
                    del self._locked[stale]

    def succeeded(self, key: Key) -> None:
        with self._lock:
            self._failures.pop(key, None)
            self._locked.pop(key, None)
