"""Merchants and terminals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from posguard.fleet.db.models import Merchant, Terminal
from posguard.fleet.security import TerminalCredential, new_terminal_credential


def get_or_create_merchant(
    session: Session, *, merchant_id: str, name: str, now: datetime
) -> Merchant:
    """The merchant, created if new. Two transactions creating the same merchant at once both
    succeed: the loser's insert is rolled back to a savepoint and it reads the winner's row."""
    merchant = session.get(Merchant, merchant_id)
    if merchant is not None:
        return merchant
    try:
        with session.begin_nested():
            merchant = Merchant(id=merchant_id, name=name or merchant_id, created_at=now)
            session.add(merchant)
    except IntegrityError:
        merchant = session.get(Merchant, merchant_id, populate_existing=True)
        if merchant is None:
            raise
    return merchant


def add_terminal(
    session: Session,
    *,
    terminal_id: str,
    merchant_id: str,
    model: str,
    brand: str,
    firmware: str,
    acquirer_host: str,
    area: str,
    now: datetime,
    location: str = "",
    install_date: date | None = None,
    warranty_end: date | None = None,
    merchant_name: str = "",
    serial: str | None = None,
) -> tuple[Terminal, TerminalCredential]:
    """Register a terminal (and its merchant if new); returns the one-time credential."""
    get_or_create_merchant(session, merchant_id=merchant_id, name=merchant_name, now=now)
    cred = new_terminal_credential(terminal_id)
    terminal = Terminal(
        id=terminal_id,
        merchant_id=merchant_id,
        model=model,
        brand=brand,
        firmware=firmware,
        acquirer_host=acquirer_host,
        area=area,
        location=location,
        serial=serial or None,
        install_date=install_date,
        warranty_end=warranty_end,
        credential_hash=cred.hash,
        revoked=False,
        created_at=now,
    )
    session.add(terminal)
    session.flush()
    return terminal, cred


def get_terminal(
    session: Session, *, terminal_id: str, merchant_id: str | None = None
) -> Terminal | None:
    """The terminal, or None; with ``merchant_id`` only when it belongs to that merchant."""
    terminal = session.get(Terminal, terminal_id)
    if terminal is None or (merchant_id is not None and terminal.merchant_id != merchant_id):
        return None
    return terminal


def list_terminals(
    session: Session,
    *,
    merchant_id: str | None = None,
    area: str | None = None,
    acquirer_host: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Terminal]:
    q = select(Terminal).order_by(Terminal.id)
    if merchant_id is not None:
        q = q.where(Terminal.merchant_id == merchant_id)
    if area is not None:
        q = q.where(Terminal.area == area)
    if acquirer_host is not None:
        q = q.where(Terminal.acquirer_host == acquirer_host)
    return session.scalars(q.limit(limit).offset(offset)).all()


def rotate_credential(session: Session, *, terminal: Terminal) -> TerminalCredential:
    cred = new_terminal_credential(terminal.id)
    terminal.credential_hash = cred.hash
    terminal.revoked = False
    session.flush()
    return cred


def revoke_terminal(session: Session, *, terminal: Terminal) -> None:
    terminal.revoked = True
    session.flush()
