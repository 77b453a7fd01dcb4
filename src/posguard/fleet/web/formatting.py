"""Times, dates and amounts as a person reads them, in one place for every dashboard page.

A user reads times in their own time zone (``user_prefs.time_zone``; by default Asia/Shanghai
for Chinese, UTC for English), with the year, and "12 min ago" beside recent ones. Amounts in
events are in fen (the ISO 8583 minor unit); people read yuan with thousands separators.

>>> from datetime import UTC, datetime
>>> f = Formatter("zh-CN", None, now=datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
>>> f.time(datetime(2026, 12, 2, 9, 48, 30, tzinfo=UTC))
'2026-12-02 17:48:30'
>>> f.ago(datetime(2026, 12, 2, 9, 48, 30, tzinfo=UTC))
'11 分钟前'
>>> en = Formatter("en", None, now=datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
>>> at = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
>>> en.ago(at), en.time(at)
('1 day ago', '2026-12-01 07:00:00 UTC')
>>> yuan(123456789), yuan(5), yuan(-250), yuan(None)
('¥1,234,567.89', '¥0.05', '-¥2.50', '—')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DASH = "—"
DEFAULT_ZONES = {"zh": "Asia/Shanghai", "en": "UTC"}
ZONE_CHOICES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "UTC",
)
"""The zones offered in the settings form (any valid IANA name is accepted)."""

_UNITS = (  # seconds, zh, en singular, en plural
    (86400 * 365, "年", "year", "years"),
    (86400 * 30, "个月", "month", "months"),
    (86400, "天", "day", "days"),
    (3600, "小时", "hour", "hours"),
    (60, "分钟", "min", "min"),
)


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def valid_zone(name: str | None) -> str | None:
    """The IANA zone name if it is one, else None.

    >>> valid_zone("Asia/Shanghai"), valid_zone("Mars/Base"), valid_zone(None)
    ('Asia/Shanghai', None, None)
    """
    if not name or (name not in _zone_names() and name != "UTC"):
        return None
    return name


@cache
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def zone_for(lang: str, saved: str | None) -> str:
    """The user's saved zone, else the language's default."""
    key = "zh" if lang.lower().startswith("zh") else "en"
    return valid_zone(saved) or DEFAULT_ZONES[key]


def yuan(fen: int | float | None) -> str:
    """An amount in fen as yuan with separators (``¥1,234.50``)."""
    if fen is None or isinstance(fen, bool):
        return DASH
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) / 100:,.2f}"


def number(value: int | float | None) -> str:
    """A count with thousands separators.

    >>> number(100000), number(None)
    ('100,000', '—')
    """
    return DASH if value is None else f"{value:,}"


@dataclass(frozen=True, slots=True)
class Formatter:
    """Bound to one user's language, time zone and the request's ``now``."""

    lang: str
    saved_zone: str | None
    now: datetime

    @property
    def zone(self) -> str:
        return zone_for(self.lang, self.saved_zone)

    @property
    def zh(self) -> bool:
        return self.lang.lower().startswith("zh")

    def time(self, value: datetime | None) -> str:
        """Date with the year and time to the second, in the user's zone."""
        if value is None:
            return DASH
        local = value.astimezone(_zone(self.zone))
        text = local.strftime("%Y-%m-%d %H:%M:%S")
        if self.zh and self.zone == DEFAULT_ZONES["zh"]:
            return text  # Beijing time: what a Chinese reader assumes
        offset = local.utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        if minutes == 0:
            return f"{text} UTC"
        hours, rest = divmod(abs(minutes), 60)
        sign = "+" if minutes > 0 else "-"
        return f"{text} UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")

    def day(self, value: date | datetime | None) -> str:
        if value is None:
            return DASH
        if isinstance(value, datetime):
            value = value.astimezone(_zone(self.zone)).date()
        return value.isoformat()

    def ago(self, value: datetime | None) -> str:
        """How long ago, in the largest whole unit ("11 min ago", "3 天前"); future: "just now"."""
        if value is None:
            return DASH
        seconds = (self.now - value).total_seconds()
        if seconds < 60:
            return "刚刚" if self.zh else "just now"
        for size, zh, one, many in _UNITS:
            if seconds >= size:
                n = int(seconds // size)
                if self.zh:
                    return f"{n} {zh}前"
                return f"{n} {one if n == 1 else many} ago"
        raise AssertionError("unreachable: the last unit is one minute")
