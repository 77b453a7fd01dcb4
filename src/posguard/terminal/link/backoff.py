"""Exponential backoff with jitter ("equal jitter": half fixed, half random).

>>> import random
>>> b = Backoff(base=1.0, factor=2.0, cap=10.0, rng=random.Random(7))
>>> [round(b.delay(n), 2) for n in range(5)]
[0.66, 1.15, 3.3, 4.29, 7.68]
>>> all(5.0 <= b.delay(n) <= 10.0 for n in range(10, 20))
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posguard.terminal.config import RetryConfig


@dataclass
class Backoff:
    """``delay(attempt)`` grows as base·factor^attempt up to ``cap``, with its upper half random."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_config(cls, retry: RetryConfig) -> Backoff:
        """The backoff a terminal's ``retry`` settings describe, with fresh jitter."""
        return cls(retry.base, retry.factor, retry.cap, random.Random())  # noqa: S311 - jitter, not crypto

    def delay(self, attempt: int) -> float:
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        ceiling = min(self.cap, self.base * self.factor ** min(attempt, 64))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)
