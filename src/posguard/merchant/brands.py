"""Brands and after-sales: failures per terminal-year, time to repair, remote fixes,
warranty, and a ranking a merchant or buyer can read.

Definitions (per brand, or per brand and model), over the period that ends when the day
``as_of`` begins (00:00): terminals installed before it, incidents opened before it:

* terminal-years: sum over terminals of (as_of - installed_on) in days / 365;
* failures per terminal-year: incidents / terminal-years;
* MTTR: mean of (resolved_at - opened_at) over resolved incidents, in hours;
* remote share: incidents resolved remotely / incidents resolved;
* downtime per terminal-year: hours from opening to resolution (to ``as_of`` while still
  open) / terminal-years. The ranking sorts on it, as it weighs how often a brand fails by
  how long it stays down; ties go to fewer failures, then to the brand name.

With ``until`` (a live dashboard), the period ends at that instant instead: today's incidents
count, and an open one is down until ``until``.

A group with fewer than ``min_terminals`` terminals or ``min_terminal_years`` of service is
listed but not ranked: two lucky terminals say nothing about a brand.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo

from posguard.merchant.fleet_records import FleetIncident, FleetRecords, FleetTerminal, Resolution

WARRANTY_WARNING = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class RankingRule:
    min_terminals: int = 10
    min_terminal_years: float = 5.0


@dataclass(frozen=True, slots=True)
class GroupStats:
    brand: str
    model: str | None  # None: all models of the brand
    terminals: int
    terminal_years: float
    incidents: int
    resolved: int
    open: int
    failures_per_terminal_year: float | None
    mttr_hours: float | None
    mtta_hours: float | None
    remote_share: float | None
    downtime_hours_per_terminal_year: float | None
    in_warranty: int
    warranty_ending_30d: int
    rank: int | None = None

    @property
    def name(self) -> str:
        return self.brand if self.model is None else f"{self.brand} {self.model}"


@dataclass(frozen=True, slots=True)
class Ranking:
    as_of: date
    rule: RankingRule
    ranked: tuple[GroupStats, ...]
    insufficient: tuple[GroupStats, ...]


def _start_of(day: date, tz: tzinfo | None) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def group_stats(
    brand: str,
    model: str | None,
    terminals: Iterable[FleetTerminal],
    incidents: Iterable[FleetIncident],
    *,
    as_of: date,
    until: datetime | None = None,
) -> GroupStats:
    terms = [t for t in terminals if t.installed_on <= as_of]
    ids = {t.terminal_id for t in terms}
    all_incs = list(incidents)
    tz = all_incs[0].opened_at.tzinfo if all_incs else None
    cutoff = until if until is not None else _start_of(as_of, tz)
    incs = [i for i in all_incs if i.terminal_id in ids and i.opened_at < cutoff]
    years = sum((as_of - t.installed_on).days for t in terms) / 365
    resolved = [i for i in incs if i.resolved_at is not None and i.resolved_at <= cutoff]
    repair = [_hours(i.resolved_at - i.opened_at) for i in resolved if i.resolved_at]
    ack = [_hours(i.acknowledged_at - i.opened_at) for i in incs if i.acknowledged_at]
    still_open = [i for i in incs if i not in resolved]
    down = sum(repair) + sum(_hours(cutoff - i.opened_at) for i in still_open)
    remote = sum(i.resolution is Resolution.REMOTE for i in resolved)
    in_warranty = [t for t in terms if t.warranty_end is not None and t.warranty_end >= as_of]
    return GroupStats(
        brand=brand,
        model=model,
        terminals=len(terms),
        terminal_years=years,
        incidents=len(incs),
        resolved=len(resolved),
        open=len(still_open),
        failures_per_terminal_year=len(incs) / years if years else None,
        mttr_hours=_mean(repair),
        mtta_hours=_mean(ack),
        remote_share=remote / len(resolved) if resolved else None,
        downtime_hours_per_terminal_year=down / years if years else None,
        in_warranty=len(in_warranty),
        warranty_ending_30d=sum(
            t.warranty_end is not None and t.warranty_end - as_of <= WARRANTY_WARNING
            for t in in_warranty
        ),
    )


def _rank_key(s: GroupStats) -> tuple[float, float, str]:
    return (
        s.downtime_hours_per_terminal_year or 0.0,
        s.failures_per_terminal_year or 0.0,
        s.name,
    )


def rank(
    records: FleetRecords,
    *,
    as_of: date,
    by_model: bool = False,
    rule: RankingRule | None = None,
    until: datetime | None = None,
) -> Ranking:
    """Stats per brand (or brand and model), ranked best first, small samples apart."""
    rule = rule or RankingRule()
    key: Callable[[FleetTerminal], tuple[str, str | None]] = (
        (lambda t: (t.brand, t.model)) if by_model else (lambda t: (t.brand, None))
    )
    groups: dict[tuple[str, str | None], list[FleetTerminal]] = defaultdict(list)
    for term in records.terminals:
        groups[key(term)].append(term)
    by_terminal: dict[str, list[FleetIncident]] = defaultdict(list)
    for inc in records.incidents:
        by_terminal[inc.terminal_id].append(inc)
    stats = []
    for (brand, model), terms in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        incs = [i for t in terms for i in by_terminal[t.terminal_id]]
        stats.append(group_stats(brand, model, terms, incs, as_of=as_of, until=until))
    enough = [
        s
        for s in stats
        if s.terminals >= rule.min_terminals and s.terminal_years >= rule.min_terminal_years
    ]
    few = [s for s in stats if s not in enough]
    ranked = tuple(_with_rank(s, i) for i, s in enumerate(sorted(enough, key=_rank_key), start=1))
    return Ranking(as_of, rule, ranked, tuple(sorted(few, key=_rank_key)))


def _with_rank(s: GroupStats, position: int) -> GroupStats:
    return replace(s, rank=position)


@dataclass(frozen=True, slots=True)
class WarrantyStatus:
    terminal_id: str
    brand: str
    model: str
    warranty_end: date | None
    status: str  # in_warranty | ending_soon | expired | unknown


def warranty_status(records: FleetRecords, *, as_of: date) -> list[WarrantyStatus]:
    """Per terminal: in warranty, ending within 30 days, expired, or unknown."""
    out = []
    for t in records.terminals:
        if t.warranty_end is None:
            status = "unknown"
        elif t.warranty_end < as_of:
            status = "expired"
        elif t.warranty_end - as_of <= WARRANTY_WARNING:
            status = "ending_soon"
        else:
            status = "in_warranty"
        out.append(WarrantyStatus(t.terminal_id, t.brand, t.model, t.warranty_end, status))
    return out
