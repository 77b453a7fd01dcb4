"""Which remote commands a terminal can run, from what its newest heartbeat says.

A terminal's service lists the commands it has handlers for in each heartbeat (``commands``);
``terminal_liveness`` keeps the newest. A heartbeat from an older agent without the list still
tells whether a printer is attached (``printer``): without one, ``reprint`` is not offered. A
terminal that never sent a heartbeat is *unknown*: the dashboard offers everything and the
terminal answers "not supported" itself, which the progress view shows.

>>> from posguard.common.commands import RemoteCommand as C
>>> sorted(c.value for c in supported({"commands": ["doctor", "reboot", "no-such"]}) or ())
['doctor', 'reboot']
>>> C.REPRINT in supported({"firmware": "2.1.0"}), C.REPRINT in supported({"printer": "ok"})
(False, True)
>>> C.UPDATE in supported({"printer": "ok"}), C.UPDATE in supported({"commands": ["update"]})
(False, True)
>>> supported(None) is None, can_run(None, C.REPRINT)
(True, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.common.commands import COMMANDS, Capability, RemoteCommand
from posguard.fleet.db.models import TerminalLiveness


def supported(heartbeat: Mapping[str, Any] | None) -> frozenset[RemoteCommand] | None:
    """The commands a terminal runs (None: it never said; see the module docstring)."""
    if heartbeat is None:
        return None
    listed = heartbeat.get("commands")
    if isinstance(listed, list):
        return frozenset(RemoteCommand(c) for c in listed if c in RemoteCommand._value2member_map_)
    has_printer = "printer" in heartbeat and heartbeat.get("printer") not in (None, "none")
    return frozenset(
        c
        for c, spec in COMMANDS.items()
        if (spec.needs is not Capability.PRINTER or has_printer) and c not in _NEWER_THAN_LISTS
    )


_NEWER_THAN_LISTS = frozenset({RemoteCommand.UPDATE, RemoteCommand.UPDATE_CONFIG})
"""Commands younger than the heartbeat's ``commands`` list: an agent that does not send the
list cannot run them (``update_config`` had no handler wired before it)."""


def can_run(commands: frozenset[RemoteCommand] | None, name: str) -> bool:
    """Whether to offer or send ``name`` to a terminal that runs ``commands``."""
    return commands is None or name in commands


def of_terminals(session: Session, ids: Iterable[str]) -> dict[str, frozenset[RemoteCommand]]:
    """terminal -> the commands it runs, for those that sent a heartbeat (the others: unknown)."""
    out: dict[str, frozenset[RemoteCommand]] = {}
    wanted = list(ids)
    for part in range(0, len(wanted), 1000):
        chunk = wanted[part : part + 1000]
        q = select(TerminalLiveness.terminal_id, TerminalLiveness.data).where(
            TerminalLiveness.terminal_id.in_(chunk)
        )
        for tid, data in session.execute(q):
            found = supported(data if isinstance(data, dict) else None)
            if found is not None:
                out[tid] = found
    return out
