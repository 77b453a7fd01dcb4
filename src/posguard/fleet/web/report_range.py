"""The Reports page's date range: ``from`` and ``to`` (days, both included), the last 30 days
by default, at most 366 days, checked with a one-line zh/en message.

>>> from datetime import date
>>> r = parse_range("2026-11-01", "2026-11-30", today=date(2026, 12, 2))
>>> r.days, r.since.isoformat(), r.until.isoformat()
(30, '2026-11-01T00:00:00+00:00', '2026-12-01T00:00:00+00:00')
>>> parse_range("2026-11-30", "2026-11-01", today=date(2026, 12, 2))
Traceback (most recent call last):
...
posguard.fleet.web.report_range.RangeError: reports.range_reversed
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 366


class RangeError(ValueError):
    """A bad range; its text is the message key (``reports.range_*``)."""


@dataclass(frozen=True, slots=True)
class ReportRange:
    first: date
    last: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def until(self) -> datetime:
        """The end, excluded: the midnight after ``last``."""
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def query(self) -> str:
        return f"from={self.first.isoformat()}&to={self.last.isoformat()}"


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise RangeError("reports.range_bad") from None


def parse_range(first: str | None, last: str | None, *, today: date) -> ReportRange:
    """The range the query asks for; the missing ends from the default (30 days to today)."""
    end = _day(last) or today
    start = _day(first) or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise RangeError("reports.range_reversed")
    if (end - start).days + 1 > MAX_DAYS:
        raise RangeError("reports.range_too_long")
    return ReportRange(start, end)
