"""Everything the terminal page shows, read in a handful of indexed queries (by terminal id)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import (
    Command,
    EventRow,
    Incident,
    MaintenanceRecord,
    MaintenanceSchedule,
    Merchant,
    Terminal,
    TerminalLiveness,
)
from posguard.fleet.maintenance import INSPECTION, firmware_key
from posguard.fleet.repo import commands as command_repo
from posguard.fleet.web.merchant_names import display_name
from posguard.fleet.web.queries import OPEN

TXN_WINDOWS = (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)))
MAX_TXN_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class OutcomeRates:
    window: str
    total: int
    by_outcome: dict[str, int]

    def share(self, outcome: str) -> float:
        return self.by_outcome.get(outcome, 0) / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class Maintenance:
    interval_days: int | None
    last_inspection: date | None
    due: date | None
    overdue: bool
    firmware_minimum: str | None
    firmware_outdated: bool


@dataclass(frozen=True, slots=True)
class TerminalView:
    terminal: Terminal
    merchant_name: str
    rates: Sequence[OutcomeRates]
    printer: dict[str, Any] | None
    printer_at: datetime | None
    heartbeat: dict[str, Any] | None
    last_seen: datetime | None
    pending_reversals: list[dict[str, Any]]
    pending_print_jobs: int | None
    incidents: Sequence[Incident]
    commands: Sequence[Command]
    maintenance: Maintenance


def _latest(session: Session, terminal_id: str, kind: str) -> EventRow | None:
    q = (
        select(EventRow)
        .where(EventRow.terminal_id == terminal_id, EventRow.kind == kind)
        .order_by(EventRow.ts.desc(), EventRow.id.desc())
        .limit(1)
    )
    return session.scalars(q).first()


def outcome_rates(session: Session, *, terminal_id: str, now: datetime) -> list[OutcomeRates]:
    """Transaction outcomes (approved, declined, failed...) over the last 24 hours and 7 days."""
    since = now - max(w for _, w in TXN_WINDOWS)
    q = (
        select(EventRow.ts, EventRow.data)
        .where(
            EventRow.terminal_id == terminal_id,
            EventRow.ts >= since,
            EventRow.kind == "transaction",
        )
        .limit(MAX_TXN_ROWS)
    )
    rows = [(ts, str((d or {}).get("outcome", "unknown"))) for ts, d in session.execute(q)]
    out = []
    for name, span in TXN_WINDOWS:
        counts = Counter(o for ts, o in rows if ts >= now - span)
        out.append(OutcomeRates(name, sum(counts.values()), dict(counts.most_common())))
    return out


REVERSAL_WINDOW = timedelta(days=30)


def pending_reversals(session: Session, *, terminal_id: str, now: datetime) -> list[dict[str, Any]]:
    """Reversals the terminal reported queued or unacknowledged and not yet acknowledged."""
    q = (
        select(EventRow.ts, EventRow.data, EventRow.code)
        .where(
            EventRow.terminal_id == terminal_id,
            EventRow.kind == "reversal",
            EventRow.ts >= now - REVERSAL_WINDOW,
        )
        .order_by(EventRow.ts, EventRow.id)
        .limit(5000)
    )
    return open_reversals(session.execute(q).all())


def open_reversals(rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """From one terminal's reversal events ``(ts, data, code)``, oldest first: the reversals
    still open (their last stage is not ``acknowledged``), one per batch and STAN.

    >>> from datetime import UTC
    >>> at = datetime(2026, 12, 1, tzinfo=UTC)
    >>> rows = [(at, {"stan": "1", "stage": "queued"}, None),
    ...         (at, {"stan": "2", "stage": "queued"}, None),
    ...         (at, {"stan": "1", "stage": "acknowledged"}, None)]
    >>> [r["stan"] for r in open_reversals(rows)]
    ['2']
    """
    by_stan: dict[str, dict[str, Any]] = {}
    for ts, data, code in rows:
        stan = str((data or {}).get("stan", ""))
        if not stan:
            continue
        key = f"{(data or {}).get('batch', '')}/{stan}"
        if (data or {}).get("stage") == "acknowledged":
            by_stan.pop(key, None)
        else:
            by_stan[key] = {
                "stan": stan,
                "batch": (data or {}).get("batch"),
                "stage": (data or {}).get("stage"),
                "reason": (data or {}).get("reason"),
                "amount": (data or {}).get("amount"),
                "code": code,
                "ts": ts,
            }
    return list(by_stan.values())


def maintenance(session: Session, *, terminal: Terminal, today: date) -> Maintenance:
    sched = session.get(MaintenanceSchedule, terminal.model)
    last_at = session.scalar(
        select(func.max(MaintenanceRecord.performed_at)).where(
            MaintenanceRecord.terminal_id == terminal.id, MaintenanceRecord.kind == INSPECTION
        )
    )
    last = last_at.date() if last_at is not None else None
    if sched is None:
        return Maintenance(None, last, None, False, None, False)
    start = last or terminal.install_date or terminal.created_at.date()
    due = start + timedelta(days=sched.inspection_interval_days)
    outdated = firmware_key(terminal.firmware) < firmware_key(sched.firmware_minimum)
    return Maintenance(
        sched.inspection_interval_days, last, due, due < today, sched.firmware_minimum, outdated
    )


def terminal_view(
    session: Session, *, terminal: Terminal, now: datetime, lang: str = "zh"
) -> TerminalView:
    printer = _latest(session, terminal.id, "printer")
    heartbeat = session.get(TerminalLiveness, terminal.id)  # heartbeats are not events rows
    last_event = session.scalar(
        select(func.max(EventRow.ts)).where(EventRow.terminal_id == terminal.id)
    )
    seen = [t for t in (last_event, heartbeat.last_heartbeat_at if heartbeat else None) if t]
    last_seen = max(seen) if seen else None
    merchant = session.get(Merchant, terminal.merchant_id)
    hb = dict(heartbeat.data) if heartbeat else None
    jobs: int | None = None
    for source in (hb, printer.data if printer else None):
        value = (source or {}).get("pending_print_jobs", (source or {}).get("pending_jobs"))
        if isinstance(value, int) and jobs is None:
            jobs = value
    incidents = session.scalars(
        select(Incident)
        .where(Incident.terminal_id == terminal.id)
        .order_by(Incident.status.in_(OPEN).desc(), Incident.id.desc())
        .limit(20)
    ).all()
    return TerminalView(
        terminal=terminal,
        merchant_name=display_name(merchant, lang) if merchant else terminal.merchant_id,
        rates=outcome_rates(session, terminal_id=terminal.id, now=now),
        printer=dict(printer.data) if printer else None,
        printer_at=printer.ts if printer else None,
        heartbeat=hb,
        last_seen=last_seen,
        pending_reversals=pending_reversals(session, terminal_id=terminal.id, now=now),
        pending_print_jobs=jobs,
        incidents=incidents,
        commands=command_repo.list_commands(session, terminal_id=terminal.id, limit=10),
        maintenance=maintenance(session, terminal=terminal, today=now.date()),
    )
