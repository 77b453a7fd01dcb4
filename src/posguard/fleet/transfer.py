"""Moving a terminal to another merchant.

A terminal's merchant is part of what it reports (every event names it, and the fleet refuses
an event whose merchant is not the terminal's) and of where its commands go (the MQTT topic
``posguard/v1/<merchant>/<terminal>/commands``). So a transfer is one step that:

- changes the terminal's merchant (creating the new merchant if it is new);
- issues a new credential and so ends the old one (the device is set up again for its new
  owner: the old owner's configuration can no longer report as the new owner's terminal);
- expires the commands still waiting for it (they were addressed under the old merchant);
- keeps history where it is: past events and incidents stay the old merchant's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from posguard.fleet.db.models import Command, Terminal, TerminalLiveness
from posguard.fleet.repo.commands import OPEN_STATUSES, CommandStatus
from posguard.fleet.repo.terminals import get_or_create_merchant, rotate_credential
from posguard.fleet.security import TerminalCredential


class TransferRefusedError(ValueError):
    pass


def transfer_terminal(
    session: Session,
    *,
    terminal: Terminal,
    merchant_id: str,
    now: datetime,
    merchant_name: str = "",
) -> TerminalCredential:
    """Move ``terminal`` to ``merchant_id``; returns its new one-time credential."""
    merchant_id = merchant_id.strip()
    if not merchant_id or len(merchant_id) > 64:
        raise TransferRefusedError("the new merchant id must be 1-64 characters")
    if merchant_id == terminal.merchant_id:
        raise TransferRefusedError(f"{terminal.id} already belongs to {merchant_id}")
    get_or_create_merchant(session, merchant_id=merchant_id, name=merchant_name, now=now)
    session.execute(
        update(Command)
        .where(Command.terminal_id == terminal.id, Command.status.in_(OPEN_STATUSES))
        .values(
            status=CommandStatus.EXPIRED.value,
            completed_at=now,
            result={"status": "expired", "detail": f"terminal moved to merchant {merchant_id}"},
        )
    )
    session.execute(
        update(TerminalLiveness)
        .where(TerminalLiveness.terminal_id == terminal.id)
        .values(merchant_id=merchant_id)
    )
    terminal.merchant_id = merchant_id
    return rotate_credential(session, terminal=terminal)
