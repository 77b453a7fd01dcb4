"""Preventive maintenance: inspection schedules per terminal model, overdue lists, and
firmware below the model's minimum.

>>> firmware_key("2.10.1") > firmware_key("2.9.9")
True
>>> firmware_key("v3.0-rc1") < firmware_key("v3.0")
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import MaintenanceRecord, MaintenanceSchedule, Terminal

INSPECTION = "inspection"
_PART = re.compile(r"\d+|[A-Za-z]+")


def firmware_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key for firmware versions: numeric parts as numbers; a pre-release tag sorts
    before the release it precedes (``3.0-rc1`` < ``3.0``)."""
    parts: list[tuple[int, int | str]] = []
    for tok in _PART.findall(version.lower().lstrip("v")):
        parts.append((1, int(tok)) if tok.isdigit() else (0, tok))
    parts.append((0, "~"))  # the release itself sorts after its pre-releases' tags
    return tuple(parts)


def set_schedule(
    session: Session,
    *,
    model: str,
    inspection_interval_days: int,
    firmware_minimum: str,
    note: str = "",
) -> MaintenanceSchedule:
    sched = session.get(MaintenanceSchedule, model)
    if sched is None:
        sched = MaintenanceSchedule(model=model)
        session.add(sched)
    sched.inspection_interval_days = inspection_interval_days
    sched.firmware_minimum = firmware_minimum
    sched.note = note
    session.flush()
    return sched


def list_schedules(session: Session) -> Sequence[MaintenanceSchedule]:
    return session.scalars(select(MaintenanceSchedule).order_by(MaintenanceSchedule.model)).all()


def record(
    session: Session,
    *,
    terminal_id: str,
    kind: str,
    performed_at: datetime,
    performed_by: str,
    note: str = "",
) -> MaintenanceRecord:
    rec = MaintenanceRecord(
        terminal_id=terminal_id,
        kind=kind,
        performed_at=performed_at,
        performed_by=performed_by,
        note=note,
    )
    session.add(rec)
    session.flush()
    return rec


@dataclass(frozen=True, slots=True)
class Overdue:
    terminal_id: str
    merchant_id: str
    model: str
    last_inspection: date | None
    due: date
    days_overdue: int


@dataclass(frozen=True, slots=True)
class Outdated:
    terminal_id: str
    merchant_id: str
    model: str
    firmware: str
    firmware_minimum: str


def overdue(session: Session, *, today: date, merchant_id: str | None = None) -> list[Overdue]:
    """Terminals whose model has a schedule and whose next inspection date has passed.

    The clock starts at the last inspection, else the install date, else registration."""
    last = (
        select(
            MaintenanceRecord.terminal_id, func.max(MaintenanceRecord.performed_at).label("last")
        )
        .where(MaintenanceRecord.kind == INSPECTION)
        .group_by(MaintenanceRecord.terminal_id)
        .subquery()
    )
    q = (
        select(Terminal, MaintenanceSchedule.inspection_interval_days, last.c.last)
        .join(MaintenanceSchedule, MaintenanceSchedule.model == Terminal.model)
        .outerjoin(last, last.c.terminal_id == Terminal.id)
        .where(Terminal.revoked.is_(False))
        .order_by(Terminal.id)
    )
    if merchant_id is not None:
        q = q.where(Terminal.merchant_id == merchant_id)
    out: list[Overdue] = []
    for terminal, interval, last_at in session.execute(q):
        inspected: date | None = last_at.date() if last_at is not None else None
        start = inspected or terminal.install_date or terminal.created_at.date()
        due = start + timedelta(days=interval)
        if due < today:
            out.append(
                Overdue(
                    terminal.id,
                    terminal.merchant_id,
                    terminal.model,
                    inspected,
                    due,
                    (today - due).days,
                )
            )
    return out


def outdated_firmware(session: Session, *, merchant_id: str | None = None) -> list[Outdated]:
    """Terminals running firmware below their model's minimum."""
    q = (
        select(Terminal, MaintenanceSchedule.firmware_minimum)
        .join(MaintenanceSchedule, MaintenanceSchedule.model == Terminal.model)
        .where(Terminal.revoked.is_(False))
        .order_by(Terminal.id)
    )
    if merchant_id is not None:
        q = q.where(Terminal.merchant_id == merchant_id)
    return [
        Outdated(t.id, t.merchant_id, t.model, t.firmware, minimum)
        for t, minimum in session.execute(q)
        if firmware_key(t.firmware) < firmware_key(minimum)
    ]
