"""The network report's arithmetic, with no database: events in, one row per area × carrier ×
link out.

Each terminal's events arrive in time order. A transaction attempt counts for the link and
carrier of the terminal's newest heartbeat before it (events before its first heartbeat in the
window count for that first heartbeat's). *Attempts* are ``transaction`` events plus ``fault``
events that carry ``during`` (an attempt that produced no transaction event, as the light fleet
reports a cut-off sale); a terminal's own link faults (``host``/``stage``, no ``during``) are
the same failure seen once more and are not counted again. A *timeout* is an attempt with
code ``NET.READ_TIMEOUT`` or ``NET.CONNECT_TIMEOUT``; a *reset* one with
``NET.CONNECTION_RESET``. RTT, weak signal and failover come from the heartbeats given, which
the report reads from the sampled history (``heartbeat_samples``: one a terminal per sample
period), so their shares and percentiles are over sampled heartbeats.

>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2026, 11, 2, tzinfo=UTC)
>>> acc = Aggregator(since=t0, weeks=1)
>>> acc.add("T1", "pudong", t0, "heartbeat", None, {"link": "4g", "carrier": "CM",
...     "signal_dbm": -110, "rtt_ms": 90})
>>> for i in range(9):
...     acc.add("T1", "pudong", t0 + timedelta(minutes=i), "transaction", None, {})
>>> acc.add("T1", "pudong", t0, "fault", "NET.READ_TIMEOUT", {"during": "sale"})
>>> acc.add("T1", "pudong", t0, "fault", "NET.READ_TIMEOUT", {"host": "primary"})
>>> g = acc.groups()[GroupKey("pudong", "CM", "4g")]
>>> g.attempts, g.timeouts, g.weak, g.signal_reports
(10, 1, 1, 1)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from posguard.common.events import HeartbeatNetwork, Link, heartbeat_network

TIMEOUT_CODES: Final = frozenset({"NET.READ_TIMEOUT", "NET.CONNECT_TIMEOUT"})
RESET_CODES: Final = frozenset({"NET.CONNECTION_RESET"})
# Below these a signal is weak: RSRP for 4G/5G, RSSI for Wi-Fi (dBm).
WEAK_MOBILE_DBM: Final = -105.0
WEAK_WIFI_DBM: Final = -75.0
UNKNOWN: Final = "unknown"
KINDS: Final = ("heartbeat", "transaction", "fault")


@dataclass(frozen=True, order=True, slots=True)
class GroupKey:
    area: str
    carrier: str
    link: str


@dataclass
class Counts:
    """What is counted for one place (or one terminal's part of a day, see ``parts``)."""

    attempts: int = 0
    timeouts: int = 0
    resets: int = 0
    heartbeats: int = 0
    signal_reports: int = 0
    weak: int = 0
    failover_reports: int = 0
    failover: int = 0
    rtts: Counter[float] = field(default_factory=Counter)  # RTT (ms) -> sampled heartbeats

    def attempt(self, code: str | None) -> bool:
        """Count one attempt; whether it failed (a timeout or a reset)."""
        self.attempts += 1
        if code in TIMEOUT_CODES:
            self.timeouts += 1
        elif code in RESET_CODES:
            self.resets += 1
        else:
            return False
        return True

    def heartbeat(self, net: HeartbeatNetwork) -> None:
        self.heartbeats += 1
        if net.rtt_ms is not None:
            self.rtts[net.rtt_ms] += 1
        if net.signal_dbm is not None and net.link is not None:
            self.signal_reports += 1
            limit = WEAK_MOBILE_DBM if net.link.mobile else WEAK_WIFI_DBM
            self.weak += net.signal_dbm < limit
        if net.failover is not None:
            self.failover_reports += 1
            self.failover += net.failover

    def add(self, other: Counts) -> None:
        for name in SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rtts.update(other.rtts)


SUMMED: Final = (  # the place's counts that add up (the daily rollup stores the same)
    "attempts",
    "timeouts",
    "resets",
    "heartbeats",
    "signal_reports",
    "weak",
    "failover_reports",
    "failover",
)


@dataclass
class GroupCounts(Counts):
    """Everything counted for one area × carrier × link, with its weekly attempts and
    failures."""

    weeks: int = 1
    terminals: set[str] = field(default_factory=set)
    weekly_attempts: list[int] = field(default_factory=list)
    weekly_failures: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.weekly_attempts = [0] * self.weeks
        self.weekly_failures = [0] * self.weeks

    def attempt_in(self, week: int, code: str | None) -> None:
        self.weekly_attempts[week] += 1
        self.weekly_failures[week] += self.attempt(code)

    def add_in(self, week: int, other: Counts) -> None:
        self.add(other)
        self.weekly_attempts[week] += other.attempts
        self.weekly_failures[week] += other.timeouts + other.resets


@dataclass
class _Terminal:
    key: GroupKey | None = None
    waiting: list[tuple[int, str | None]] = field(default_factory=list)  # before a heartbeat


def carrier_link(net: HeartbeatNetwork) -> tuple[str, str]:
    """The carrier and link a heartbeat names (``unknown`` where it names none)."""
    return net.carrier or UNKNOWN, net.link.value if isinstance(net.link, Link) else UNKNOWN


def _key(area: str, net: HeartbeatNetwork) -> GroupKey:
    return GroupKey(area, *carrier_link(net))


class Aggregator:
    """Counts per area × carrier × link over ``weeks`` weeks from ``since``."""

    def __init__(self, *, since: datetime, weeks: int) -> None:
        self.since = since
        self.weeks = weeks
        self._groups: dict[GroupKey, GroupCounts] = {}
        self._terms: dict[str, _Terminal] = {}
        self._areas: dict[str, str] = {}

    def _group(self, key: GroupKey) -> GroupCounts:
        g = self._groups.get(key)
        if g is None:
            g = self._groups[key] = GroupCounts(weeks=self.weeks)
        return g

    def _week(self, ts: datetime) -> int:
        return min(max((ts - self.since) // timedelta(days=7), 0), self.weeks - 1)

    def add(
        self,
        terminal_id: str,
        area: str,
        ts: datetime,
        kind: str,
        code: str | None,
        data: dict[str, Any],
    ) -> None:
        """One event of ``terminal_id`` (in ``area``), its events in time order."""
        term = self._terms.get(terminal_id)
        if term is None:
            term = self._terms[terminal_id] = _Terminal()
            self._areas[terminal_id] = area
        if kind == "heartbeat":
            net = heartbeat_network(data)
            if net is None:
                return
            term.key = _key(area, net)
            g = self._group(term.key)
            g.terminals.add(terminal_id)
            g.heartbeat(net)
            for week, waiting_code in term.waiting:
                g.attempt_in(week, waiting_code)
            term.waiting.clear()
        elif kind == "transaction" or (kind == "fault" and "during" in data):
            if term.key is None:
                term.waiting.append((self._week(ts), code))
            else:
                self._group(term.key).attempt_in(self._week(ts), code)

    def groups(self) -> dict[GroupKey, GroupCounts]:
        """The counts so far; attempts of terminals that never reported their network count
        under ``unknown`` carrier and link."""
        for tid, term in self._terms.items():
            if term.waiting:
                g = self._group(GroupKey(self._areas[tid], UNKNOWN, UNKNOWN))
                g.terminals.add(tid)
                for week, code in term.waiting:
                    g.attempt_in(week, code)
                term.waiting.clear()
        return self._groups
