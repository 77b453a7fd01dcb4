"""The one result row every benchmark returns, so `python -m bench` can print one table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Result:
    """One measured figure next to its in-run baseline.

    ``ours`` and ``baseline`` are in ``unit``; ``higher_is_better`` says how to read the
    ratio (ops/s: higher; seconds: lower). ``baseline`` is None for figures with no
    natural baseline (memory per connection, failover time); they are reported as is.
    """

    name: str
    ours: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    higher_is_better: bool = True
    target: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """ours relative to baseline, oriented so that 1.0 means "as good as the baseline"."""
        if self.baseline is None or self.baseline == 0 or self.ours == 0:
            return None
        return self.ours / self.baseline if self.higher_is_better else self.baseline / self.ours
