"""Read queries the dashboard needs and the fleet repositories do not offer (aggregates over the
whole fleet, filtered by terminal attributes). Writes always go through ``posguard.fleet.repo``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, func, select
from sqlalchemy.orm import Session

from posguard.catalog.model import Category, Entry
from posguard.fleet.db.models import EventRow, Incident, Merchant, Terminal, TerminalLiveness
from posguard.fleet.repo.incidents import IncidentStatus
from posguard.fleet.web.filters import Filters
from posguard.fleet.web.health import HEALTH_ORDER, Health, Signals, classify

OPEN = (IncidentStatus.OPEN.value, IncidentStatus.ACKNOWLEDGED.value)
SEVERITIES = ("critical", "major", "minor", "info")
PRINTER_WINDOW = timedelta(days=7)
TRAFFIC_WINDOW = timedelta(minutes=5)  # "traffic": an approved sale this recent


@dataclass(frozen=True, slots=True)
class Series:
    """Counts per bucket per catalog category, for one stacked chart."""

    buckets: tuple[str, ...]
    by_category: Mapping[str, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Overview:
    terminals: int
    health: Mapping[Health, int]
    severity: Mapping[str, int]
    hourly: Series
    daily: Series
    unhealthy: Sequence[tuple[str, Health]] = field(default=())


def _bucket_expr(session: Session, column: Any, unit: str) -> ColumnElement[Any]:
    """The start of the hour/day of ``column`` as text ``YYYY-MM-DD[ HH]``, on either dialect."""
    if session.get_bind().dialect.name == "postgresql":
        fmt = "YYYY-MM-DD HH24" if unit == "hour" else "YYYY-MM-DD"
        return func.to_char(func.timezone("UTC", column), fmt)
    fmt = "%Y-%m-%d %H" if unit == "hour" else "%Y-%m-%d"
    return func.strftime(fmt, column)


def bucket_labels(now: datetime, unit: str, count: int) -> tuple[str, ...]:
    """The last ``count`` bucket keys ending with the one holding ``now``, oldest first.

    >>> from datetime import UTC
    >>> bucket_labels(datetime(2026, 11, 25, 10, 30, tzinfo=UTC), "hour", 3)
    ('2026-11-25 08', '2026-11-25 09', '2026-11-25 10')
    """
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    fmt = "%Y-%m-%d %H" if unit == "hour" else "%Y-%m-%d"
    return tuple((now - step * i).strftime(fmt) for i in range(count - 1, -1, -1))


def fault_series(
    session: Session,
    *,
    filters: Filters,
    now: datetime,
    hours: int,
    days: int,
    catalog: Mapping[str, Entry],
) -> tuple[Series, Series]:
    """Fault events per catalog category: per hour over the last ``hours`` and per day over
    the last ``days``, from one scan grouped by hour."""
    hour_labels = bucket_labels(now, "hour", hours)
    day_labels = bucket_labels(now, "day", days)
    since = min(now - timedelta(hours=hours), now - timedelta(days=days))
    bucket = _bucket_expr(session, EventRow.ts, "hour")
    q = select(bucket, EventRow.code, func.count()).where(
        EventRow.kind == "fault", EventRow.ts >= since
    )
    if filters.any():
        q = filters.apply(q.join(Terminal, Terminal.id == EventRow.terminal_id))
    q = q.group_by(bucket, EventRow.code)
    hour_index = {label: i for i, label in enumerate(hour_labels)}
    day_index = {label: i for i, label in enumerate(day_labels)}
    hourly: dict[str, list[int]] = defaultdict(lambda: [0] * len(hour_labels))
    daily: dict[str, list[int]] = defaultdict(lambda: [0] * len(day_labels))
    for key, code, n in session.execute(q):
        entry = catalog.get(code or "")
        category = entry.category.value if entry else "unknown"
        h = hour_index.get(str(key))
        if h is not None:
            hourly[category][h] += int(n)
        d = day_index.get(str(key)[:10])
        if d is not None:
            daily[category][d] += int(n)
    return (
        Series(hour_labels, {k: tuple(v) for k, v in sorted(hourly.items())}),
        Series(day_labels, {k: tuple(v) for k, v in sorted(daily.items())}),
    )


def group_scopes(
    session: Session, *, catalog: Mapping[str, Entry]
) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """Acquirer hosts and areas under an open fleet-wide *network* incident, with when it
    opened. An issuer outage or a failed rollout on a model leaves terminals able to transact,
    so it does not count here."""
    hosts: dict[str, datetime] = {}
    areas: dict[str, datetime] = {}
    q = select(Incident.scope, Incident.code, Incident.opened_at).where(
        Incident.status.in_(OPEN), Incident.terminal_id.is_(None)
    )
    for scope, code, opened in session.execute(q):
        entry = catalog.get(code)
        if entry is None or entry.category is not Category.NETWORK:
            continue
        kind, _, value = scope.partition(":")
        target = hosts if kind == "host" else areas if kind == "area" else None
        if target is not None:
            target[value] = min(opened, target.get(value, opened))
    return hosts, areas


def latest_printer_states(
    session: Session, *, filters: Filters, now: datetime, terminal_ids: Sequence[str] | None = None
) -> dict[str, str]:
    """The state in each terminal's newest printer event of the last week."""
    return _latest_printer(session, filters, now, terminal_ids)


def _latest_printer(
    session: Session, filters: Filters, now: datetime, terminal_ids: Sequence[str] | None
) -> dict[str, str]:
    """terminal -> the state in its newest printer event of the last week.

    One pass over the week's printer events, newest kept per terminal in Python: a
    ``max(id) GROUP BY terminal_id`` subquery walks the (terminal_id, ts) index and looks up
    every row, which is several times slower on SQLite."""
    state = EventRow.data["state"].as_string()
    q = select(EventRow.id, EventRow.terminal_id, state).where(
        EventRow.kind == "printer", EventRow.ts >= now - PRINTER_WINDOW
    )
    newest = _newest(session, _narrow(q, filters, terminal_ids))
    return {t: v[0] for t, v in newest.items() if isinstance(v[0], str)}


def _narrow(q: Any, filters: Filters, terminal_ids: Sequence[str] | None) -> Any:
    if filters.merchant:
        q = q.where(EventRow.merchant_id == filters.merchant)
    if terminal_ids is not None:
        q = q.where(EventRow.terminal_id.in_(list(terminal_ids)))
    return q


def _newest(session: Session, q: Any) -> dict[str, Any]:
    newest: dict[str, tuple[int, Any]] = {}
    for row_id, tid, *values in session.execute(q):
        seen = newest.get(tid)
        if seen is None or row_id > seen[0]:
            newest[tid] = (row_id, tuple(values))
    return {tid: values for tid, (_, values) in newest.items()}


def _latest_approved(
    session: Session, filters: Filters, now: datetime, terminal_ids: Sequence[str] | None
) -> dict[str, tuple[datetime, str | None]]:
    """terminal -> (time, host) of its newest approved sale within ``TRAFFIC_WINDOW``."""
    q = select(
        EventRow.id, EventRow.terminal_id, EventRow.ts, EventRow.data["host"].as_string()
    ).where(
        EventRow.kind == "transaction",
        EventRow.ts >= now - TRAFFIC_WINDOW,
        EventRow.data["outcome"].as_string() == "approved",
    )
    return _newest(session, _narrow(q, filters, terminal_ids))


def _latest_queue(
    session: Session, filters: Filters, now: datetime, terminal_ids: Sequence[str] | None
) -> dict[str, int]:
    """terminal -> receipts waiting to print, as its newest heartbeat says (if it says; its
    ``terminal_liveness`` row: heartbeats are not events rows)."""
    q = select(
        TerminalLiveness.terminal_id, TerminalLiveness.data["receipts_queued"].as_integer()
    ).where(TerminalLiveness.last_heartbeat_at >= now - TRAFFIC_WINDOW)
    if filters.merchant:
        q = q.where(TerminalLiveness.merchant_id == filters.merchant)
    if terminal_ids is not None:
        q = q.where(TerminalLiveness.terminal_id.in_(list(terminal_ids)))
    return {t: int(v) for t, v in session.execute(q) if v is not None}


def terminal_signals(
    session: Session,
    *,
    filters: Filters,
    now: datetime,
    catalog: Mapping[str, Entry],
    terminal_ids: Sequence[str] | None = None,
) -> dict[str, tuple[Signals, str]]:
    """terminal -> (its signals, its own acquirer host), for every terminal with any signal."""
    codes: dict[str, dict[str, datetime]] = defaultdict(dict)
    q = filters.apply(
        select(Incident.terminal_id, Incident.code, Incident.opened_at)
        .join(Terminal, Terminal.id == Incident.terminal_id)
        .where(Incident.status.in_(OPEN))
    )
    if terminal_ids is not None:
        q = q.where(Incident.terminal_id.in_(list(terminal_ids)))
    for tid, code, opened in session.execute(q):
        if tid is not None:
            have = codes[tid].get(code)
            codes[tid][code] = opened if have is None else min(have, opened)
    hosts, areas = group_scopes(session, catalog=catalog)
    placed = select(Terminal.id, Terminal.acquirer_host, Terminal.area)
    if terminal_ids is not None:
        placed = placed.where(Terminal.id.in_(list(terminal_ids)))
    elif hosts or areas:
        placed = placed.where(Terminal.acquirer_host.in_(hosts) | Terminal.area.in_(areas))
    else:  # no group outage: only terminals with a signal of their own matter (looked up below)
        placed = placed.where(false())
    grouped: dict[str, datetime] = {}
    primary: dict[str, str] = {}
    for tid, host, area in session.execute(filters.apply(placed)):
        primary[tid] = host
        since = [t for t in (hosts.get(host), areas.get(area)) if t is not None]
        if since:
            grouped[tid] = min(since)
    printers = _latest_printer(session, filters, now, terminal_ids)
    approved = _latest_approved(session, filters, now, terminal_ids)
    queued = _latest_queue(session, filters, now, terminal_ids)
    wanted = set(codes) | set(grouped) | set(printers) | set(approved) | set(queued)
    missing = [t for t in wanted if t not in primary]
    for part in range(0, len(missing), 1000):
        chunk = missing[part : part + 1000]
        primary.update(
            dict(
                session.execute(
                    filters.apply(
                        select(Terminal.id, Terminal.acquirer_host).where(Terminal.id.in_(chunk))
                    )
                ).all()
            )
        )
    out: dict[str, tuple[Signals, str]] = {}
    for tid in wanted:
        if tid not in primary:
            continue  # outside the filters (the event queries narrow by merchant only)
        at, via = approved.get(tid, (None, None))
        signals = Signals(
            codes=codes.get(tid, {}),
            group_since=grouped.get(tid),
            approved_at=at,
            approved_host=via,
            printer_state=printers.get(tid),
            receipts_queued=queued.get(tid, 0),
        )
        out[tid] = (signals, primary[tid])
    return out


def terminal_health(
    session: Session, *, filters: Filters, now: datetime, catalog: Mapping[str, Entry]
) -> tuple[int, dict[str, Health]]:
    """How many terminals match, and the health of every one that is not ``ok``."""
    total = session.scalar(filters.apply(select(func.count()).select_from(Terminal))) or 0
    out: dict[str, Health] = {}
    for tid, (signals, host) in terminal_signals(
        session, filters=filters, now=now, catalog=catalog
    ).items():
        h = classify(signals, catalog=catalog, primary_host=host)
        if h is not Health.OK:
            out[tid] = h
    return total, out


def open_by_severity(session: Session, *, filters: Filters) -> dict[str, int]:
    """Open or acknowledged incidents per severity (fleet-wide ones only without a merchant)."""
    q = select(Incident.severity, func.count()).where(Incident.status.in_(OPEN))
    if filters.any():
        q = filters.apply(q.join(Terminal, Terminal.id == Incident.terminal_id))
    counts = dict.fromkeys(SEVERITIES, 0)
    for sev, n in session.execute(q.group_by(Incident.severity)):
        counts[sev] = counts.get(sev, 0) + int(n)
    if filters.any() and not filters.merchant:
        scopes = [f"host:{filters.host}"] if filters.host else []
        scopes += [f"area:{filters.area}"] if filters.area else []
        if scopes and not (filters.model or filters.brand):
            g = select(Incident.severity, func.count()).where(
                Incident.status.in_(OPEN), Incident.scope.in_(scopes)
            )
            for sev, n in session.execute(g.group_by(Incident.severity)):
                counts[sev] = counts.get(sev, 0) + int(n)
    return counts


def overview(
    session: Session, *, filters: Filters, now: datetime, catalog: Mapping[str, Entry]
) -> Overview:
    total, unhealthy = terminal_health(session, filters=filters, now=now, catalog=catalog)
    counts = Counter(unhealthy.values())
    health = {h: counts.get(h, 0) for h in Health}
    health[Health.OK] = total - len(unhealthy)
    worst = sorted(unhealthy.items(), key=lambda kv: (-_RANK[kv[1]], kv[0]))
    hourly, daily = fault_series(
        session, filters=filters, now=now, hours=24, days=14, catalog=catalog
    )
    return Overview(
        terminals=total,
        health=health,
        severity=open_by_severity(session, filters=filters),
        hourly=hourly,
        daily=daily,
        unhealthy=worst[:20],
    )


_RANK = {h: rank for rank, h in enumerate(HEALTH_ORDER)}  # worst last


def filter_options(session: Session, *, merchant_scope: str | None) -> dict[str, list[str]]:
    """The values each filter can take (within a merchant's own terminals for a merchant)."""
    cols = {
        "host": Terminal.acquirer_host,
        "area": Terminal.area,
        "merchant": Terminal.merchant_id,
        "model": Terminal.model,
        "brand": Terminal.brand,
    }
    out: dict[str, list[str]] = {}
    for name, col in cols.items():
        # merchants go into a searchable list, the others into drop-downs
        q = select(col).distinct().order_by(col).limit(20_000 if name == "merchant" else 500)
        if merchant_scope is not None:
            q = q.where(Terminal.merchant_id == merchant_scope)
        out[name] = [str(v) for v in session.scalars(q)]
    return out


def merchant_names(session: Session, ids: Sequence[str], lang: str = "zh") -> dict[str, str]:
    """id -> name (in ``lang``, ``merchant_names.name_column``) of the merchants named, for
    the merchant filter's list."""
    from posguard.fleet.web.merchant_names import name_column

    out: dict[str, str] = {}
    for i in range(0, len(ids), 1000):
        chunk = list(ids[i : i + 1000])
        out.update(
            (mid, name)
            for mid, name in session.execute(
                select(Merchant.id, name_column(lang)).where(Merchant.id.in_(chunk))
            )
        )
    return out


def list_incidents(
    session: Session,
    *,
    filters: Filters,
    status: str | None,
    severity: str | None,
    category_codes: Sequence[str] | None,
    terminal_id: str | None = None,
    limit: int = 200,
    also_ids: Sequence[int] = (),
) -> Sequence[tuple[Incident, Terminal | None]]:
    """Incidents newest first, with their terminal; fleet-wide ones unless a filter narrows to
    terminals, plus ``also_ids`` (the fleet-wide incidents a merchant's terminals are in)."""

    def narrowed(q: Any) -> Any:
        if status == "active":
            q = q.where(Incident.status.in_(OPEN))
        elif status:
            q = q.where(Incident.status == status)
        if severity:
            q = q.where(Incident.severity == severity)
        if category_codes is not None:
            q = q.where(Incident.code.in_(list(category_codes)))
        if terminal_id:
            q = q.where(Incident.terminal_id == terminal_id)
        return q.order_by(Incident.id.desc()).limit(limit)

    q = select(Incident, Terminal).outerjoin(Terminal, Terminal.id == Incident.terminal_id)
    if filters.any():
        q = filters.apply(q)
    rows = [(inc, term) for inc, term in session.execute(narrowed(q)).all()]
    if also_ids and not terminal_id:
        seen = {inc.id for inc, _ in rows}
        extra = select(Incident).where(Incident.id.in_([i for i in also_ids if i not in seen]))
        rows += [(inc, None) for inc in session.scalars(narrowed(extra))]
        rows.sort(key=lambda r: -r[0].id)
    return rows[:limit]


def health_of(
    session: Session, *, terminal: Terminal, now: datetime, catalog: Mapping[str, Entry]
) -> Health:
    """One terminal's health, by the same rules as the overview's counts."""
    found = terminal_signals(
        session,
        filters=Filters(merchant=terminal.merchant_id),
        now=now,
        catalog=catalog,
        terminal_ids=[terminal.id],
    ).get(terminal.id)
    if found is None:
        return Health.OK
    signals, host = found
    return classify(signals, catalog=catalog, primary_host=host)
