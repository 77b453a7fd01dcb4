"""Remote commands: issue, hand out (MQTT or HTTP pickup), complete from a command_result event,
expire.

A command lives ``ttl_s`` (default :data:`DEFAULT_TTL_S`) after it is issued: a terminal that
has not taken it by then gets it no more (``expire_due`` marks it ``expired``; the terminal
also refuses a command whose ``expires_at`` has passed). A result that still arrives later is
recorded: the terminal did run it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from posguard.common.commands import COMMAND_NAMES
from posguard.fleet import audit
from posguard.fleet.audit import AuditAction
from posguard.fleet.db.models import Command, Terminal


class CommandStatus(StrEnum):
    PENDING = "pending"  # stored, not yet handed to the terminal
    SENT = "sent"  # published over MQTT or picked up over HTTP
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"  # not taken (or not answered) before expires_at


OPEN_STATUSES = (CommandStatus.PENDING.value, CommandStatus.SENT.value)
DEFAULT_TTL_S = 900.0


def issue_command(
    session: Session,
    *,
    terminal: Terminal,
    name: str,
    args: dict[str, Any],
    issued_by: str,
    now: datetime,
    incident_id: int | None = None,
    ttl_s: float | None = DEFAULT_TTL_S,
    detected_at: datetime | None = None,
    bulk_id: int | None = None,
    flush: bool = True,
    origin: str = audit.ORIGIN_SYSTEM,
) -> Command:
    """Queue a command for a terminal; it expires ``ttl_s`` later (None: never).

    A rule's command passes the time of the event that caused it as ``now`` and the time the
    diagnoser issued it as ``detected_at``: both are kept, and the time to live counts from
    the later one (a command created late, after a diagnosis backlog, still lives ``ttl_s``).
    A bulk action issues one per terminal with its ``bulk_id`` and ``flush=False``, flushing
    once at the end.

    A command for an incident is written to its audit log (``origin``: where it came from)."""
    if name not in COMMAND_NAMES:
        raise ValueError(f"unknown command {name!r}; one of {sorted(COMMAND_NAMES)}")
    cmd = Command(
        id=str(uuid.uuid4()),
        terminal_id=terminal.id,
        merchant_id=terminal.merchant_id,
        name=name,
        args=args,
        status=CommandStatus.PENDING.value,
        issued_at=now,
        detected_at=detected_at,
        issued_by=issued_by,
        incident_id=incident_id,
        bulk_id=bulk_id,
        expires_at=None
        if ttl_s is None
        else max(now, detected_at or now) + timedelta(seconds=ttl_s),
    )
    session.add(cmd)
    if incident_id is not None:
        audit.record(
            session,
            incident_id=incident_id,
            action=AuditAction.COMMAND_SENT,
            actor=issued_by,
            origin=origin,
            at=max(now, detected_at or now),
            details={"command": name, "command_id": cmd.id, "terminal_id": terminal.id},
            merchant_safe=True,
        )
    if flush:
        session.flush()
    return cmd


def _audit_answer(session: Session, cmd: Command, now: datetime) -> None:
    if cmd.incident_id is None:
        return
    audit.record(
        session,
        incident_id=cmd.incident_id,
        action=AuditAction.COMMAND_ANSWER,
        actor=f"terminal:{cmd.terminal_id}",
        origin=audit.ORIGIN_SYSTEM,
        at=now,
        details={
            "command": cmd.name,
            "command_id": cmd.id,
            "status": cmd.status,
            "detail": str((cmd.result or {}).get("detail") or "")[:300],
        },
        merchant_safe=True,
    )


def get_command(
    session: Session, *, command_id: str, merchant_id: str | None = None
) -> Command | None:
    cmd = session.get(Command, command_id)
    if cmd is None or (merchant_id is not None and cmd.merchant_id != merchant_id):
        return None
    return cmd


def list_commands(
    session: Session,
    *,
    terminal_id: str | None = None,
    merchant_id: str | None = None,
    limit: int = 100,
) -> Sequence[Command]:
    q = select(Command).order_by(Command.issued_at.desc())
    if terminal_id is not None:
        q = q.where(Command.terminal_id == terminal_id)
    if merchant_id is not None:
        q = q.where(Command.merchant_id == merchant_id)
    return session.scalars(q.limit(limit)).all()


def pending_commands(
    session: Session,
    *,
    terminal_id: str | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> Sequence[Command]:
    """Commands not yet handed out (all terminals when ``terminal_id`` is None), oldest first;
    with ``now``, none that expired."""
    q = select(Command).where(Command.status == CommandStatus.PENDING.value)
    if now is not None:
        q = q.where(Command.expires_at.is_(None) | (Command.expires_at > now))
    if terminal_id is not None:
        q = q.where(Command.terminal_id == terminal_id)
    return session.scalars(q.order_by(Command.issued_at).limit(limit)).all()


def mark_sent(session: Session, *, commands: Sequence[Command], now: datetime) -> None:
    for cmd in commands:
        if cmd.status == CommandStatus.PENDING.value:
            cmd.status = CommandStatus.SENT.value
            cmd.sent_at = now
    session.flush()


def complete_command(
    session: Session, *, terminal_id: str, data: dict[str, Any], now: datetime
) -> Command | None:
    """Complete the command a ``command_result`` event reports on (None: not this terminal's)."""
    command_id = data.get("command_id")
    if not isinstance(command_id, str):
        return None
    cmd = session.get(Command, command_id)
    late = (CommandStatus.EXPIRED.value,)  # expired waiting for its answer: the answer wins
    if cmd is None or cmd.terminal_id != terminal_id or cmd.status not in OPEN_STATUSES + late:
        return None
    ok = str(data.get("status", "")).lower() in {"ok", "succeeded", "success", "done"}
    cmd.status = (CommandStatus.SUCCEEDED if ok else CommandStatus.FAILED).value
    cmd.completed_at = now
    cmd.result = {"status": data.get("status"), "detail": data.get("detail")}
    _audit_answer(session, cmd, now)
    session.flush()
    return cmd


def expire_due(session: Session, *, now: datetime) -> int:
    """Mark the open commands whose time ran out as expired; returns how many."""
    due = session.scalars(
        select(Command).where(
            Command.status.in_(OPEN_STATUSES),
            Command.expires_at.is_not(None),
            Command.expires_at <= now,
        )
    ).all()
    for cmd in due:
        taken = cmd.status == CommandStatus.SENT.value
        cmd.status = CommandStatus.EXPIRED.value
        cmd.completed_at = now
        cmd.result = {
            "status": "expired",
            "detail": "sent, no answer before it expired"
            if taken
            else "the terminal did not take it before it expired",
        }
        _audit_answer(session, cmd, now)
    if due:
        session.flush()
    return len(due)


def command_message(cmd: Command) -> dict[str, Any]:
    """The JSON a terminal receives: ``{command_id, name, args, issued_at, expires_at}``."""
    return {
        "command_id": cmd.id,
        "name": cmd.name,
        "args": cmd.args,
        "issued_at": cmd.issued_at.isoformat(),
        "expires_at": None if cmd.expires_at is None else cmd.expires_at.isoformat(),
    }


def command_topic(cmd: Command) -> str:
    return f"posguard/v1/{cmd.merchant_id}/{cmd.terminal_id}/commands"


def claim_pending(session: Session, *, now: datetime, limit: int = 200) -> list[Command]:
    """Claim up to ``limit`` pending commands for sending (marked sent at ``now``), each by one
    conditional UPDATE, so two workers never send the same command."""
    claimed: list[Command] = []
    for cmd in pending_commands(session, limit=limit):
        result = session.execute(
            update(Command)
            .where(Command.id == cmd.id, Command.status == CommandStatus.PENDING.value)
            .values(status=CommandStatus.SENT.value, sent_at=now)
        )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(cmd)
    return claimed


def unclaim(session: Session, *, command_id: str) -> None:
    """Put a claimed command back to pending (its publish failed)."""
    session.execute(
        update(Command)
        .where(Command.id == command_id, Command.status == CommandStatus.SENT.value)
        .values(status=CommandStatus.PENDING.value, sent_at=None)
    )
