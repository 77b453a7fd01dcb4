"""Circuit breaker for one host, with half-open probing.

CLOSED: traffic flows; ``failure_threshold`` consecutive failures open it.
OPEN: traffic skips the host until ``open_seconds`` have passed, then it is due a probe.
HALF_OPEN: one probe is in flight; its success closes the breaker, its failure reopens
it for longer (doubling up to ``max_open_seconds``).

>>> t = [0.0]
>>> b = CircuitBreaker(failure_threshold=1, open_seconds=10, clock=lambda: t[0])
>>> b.record_failure(); b.state
<BreakerState.OPEN: 'open'>
>>> b.allows_traffic(), b.probe_due()
(False, False)
>>> t[0] = 11.0
>>> b.probe_due()
True
>>> b.begin_probe(); b.state
<BreakerState.HALF_OPEN: 'half_open'>
>>> b.record_success(); b.state, b.allows_traffic()
(<BreakerState.CLOSED: 'closed'>, True)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 1,
        open_seconds: float = 30.0,
        max_open_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.base_open_seconds = open_seconds
        self.max_open_seconds = max(max_open_seconds, open_seconds)
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._open_seconds = open_seconds
        self._opened_at = 0.0

    def allows_traffic(self) -> bool:
        """True when sales may use this host now."""
        return self.state is BreakerState.CLOSED

    def probe_due(self) -> bool:
        """True when the breaker is open and its cool-down is over (nobody probes yet)."""
        return (
            self.state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self._open_seconds
        )

    def begin_probe(self) -> None:
        self.state = BreakerState.HALF_OPEN

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self._open_seconds = self.base_open_seconds

    def record_failure(self) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self._open_seconds = min(self._open_seconds * 2, self.max_open_seconds)
            self._open()
            return
        self.failures += 1
        if self.failures >= self.failure_threshold:
            self._open()

    def _open(self) -> None:
        self.state = BreakerState.OPEN
        self._opened_at = self._clock()
