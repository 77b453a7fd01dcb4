"""Remote commands from the fleet: parse, run once, acknowledge with a ``command_result`` event.

A command is JSON ``{"command_id": "...", "name": "reboot", "args": {...},
"issued_at": "...", "expires_at": "...?"}`` (the fleet's ``CommandMessage``; ``command`` is
accepted for ``name``). The runtime supplies one handler per command it supports
(the names are ``common.commands.RemoteCommand``, shared with the fleet);
a handler returns a short detail text or raises. Every command ends in exactly one
``command_result`` event with ``command_id``, ``status`` (``ok`` / ``failed``) and
``detail``.

Delivery is at-least-once (MQTT QoS 1), so commands are remembered by id in SQLite:
a repeated delivery is not run again. A command is recorded as *running* before its
handler starts; if the terminal restarts meanwhile, the next start acknowledges it:
``ok`` for ``reboot`` (restarting was the point), ``failed`` for the others, so the
operator knows to send it again.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from posguard.card import redact
from posguard.common.commands import RemoteCommand
from posguard.common.events import EventKind
from posguard.common.validation import first_error
from posguard.terminal.printer.queue import Emit
from posguard.terminal.storage import open_durable

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS commands_seen (
    command_id TEXT PRIMARY KEY,
    command    TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('running', 'done')),
    status     TEXT,
    received_at TEXT NOT NULL
);
"""


CommandName = RemoteCommand  # the one definition, shared with the fleet


class Command(BaseModel):
    """One remote command as sent by the fleet."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    command_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
    # the fleet sends ``name`` (its CommandMessage); ``command`` is accepted too
    command: CommandName = Field(validation_alias=AliasChoices("command", "name"))
    args: dict[str, Any] = Field(default_factory=dict)
    issued_at: datetime | None = None
    expires_at: datetime | None = None


class CommandFailedError(Exception):
    """A handler's way to say the command ran and did not succeed: its message is the
    answer's whole detail (other exceptions are prefixed with their type)."""


Handler = Callable[[Command], Awaitable[str | None] | str | None]


SLOW_COMMANDS: Final[Mapping[CommandName, float]] = {CommandName.UPDATE: 1800.0}
"""Commands given longer than the dispatcher's ``timeout``: an ``update`` downloads a package
and runs its health check; cut off by a timeout, its answer would say failed while the install
went on."""


class CommandStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CommandResult:
    command_id: str | None
    status: CommandStatus
    detail: str
    duplicate: bool = False


class CommandDispatcher:
    """Runs each command once through the runtime's handlers and acknowledges it."""

    def __init__(
        self,
        path: str | Path,
        handlers: Mapping[CommandName, Handler] | Mapping[str, Handler],
        emit: Emit,
        *,
        timeout: float = 120.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._handlers = {CommandName(k): v for k, v in handlers.items()}
        self._emit = emit
        self.timeout = timeout
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._db = open_durable(path, _SCHEMA)
        self.recovered = self._recover()

    def _recover(self) -> list[CommandResult]:
        with self._lock:
            rows = self._db.execute(
                "SELECT command_id, command FROM commands_seen WHERE state='running'"
            ).fetchall()
        out = []
        for command_id, name in rows:
            if name == CommandName.REBOOT:
                out.append(self._finish(command_id, CommandStatus.OK, "terminal restarted"))
            else:
                out.append(
                    self._finish(
                        command_id,
                        CommandStatus.FAILED,
                        "interrupted by a terminal restart; send it again",
                    )
                )
        return out

    def _finish(self, command_id: str, status: CommandStatus, detail: str) -> CommandResult:
        detail = redact(detail)[:500]
        # the acknowledgement is stored (outbox) before the ledger says done: a crash in
        # between acknowledges twice, never zero times
        self._emit(
            EventKind.COMMAND_RESULT,
            None,
            command_id=command_id,
            status=status.value,
            detail=detail,
        )
        with self._lock:
            self._db.execute(
                "UPDATE commands_seen SET state='done', status=? WHERE command_id=?",
                (status.value, command_id),
            )
        return CommandResult(command_id, status, detail)

    def _fail_unparsed(self, raw: Any, detail: str) -> CommandResult:
        command_id = raw.get("command_id") if isinstance(raw, dict) else None
        if isinstance(command_id, str) and 0 < len(command_id) <= 64:
            self._emit(
                EventKind.COMMAND_RESULT,
                None,
                command_id=command_id,
                status=CommandStatus.FAILED.value,
                detail=redact(detail)[:500],
            )
            return CommandResult(command_id, CommandStatus.FAILED, detail)
        return CommandResult(None, CommandStatus.FAILED, detail)

    async def handle(self, raw: bytes | str | Mapping[str, Any]) -> CommandResult:
        """Parse and run one command; never raises for a bad command or a failing handler."""
        obj: Any
        if isinstance(raw, bytes | str):
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                return self._fail_unparsed(None, f"command is not JSON: {exc}")
        else:
            obj = dict(raw)
        try:
            cmd = Command.model_validate(obj)
        except ValidationError as exc:
            where, msg = first_error(exc, "command")
            return self._fail_unparsed(obj, f"invalid command: {where}: {msg}")
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO commands_seen (command_id, command, state, received_at) "
                "VALUES (?, ?, 'running', ?)",
                (cmd.command_id, cmd.command.value, self._clock().isoformat()),
            )
            fresh = cur.rowcount == 1
        if not fresh:
            return CommandResult(
                cmd.command_id, CommandStatus.OK, "already handled", duplicate=True
            )
        if cmd.expires_at is not None and cmd.expires_at < self._clock():
            return self._finish(cmd.command_id, CommandStatus.FAILED, "expired before it arrived")
        handler = self._handlers.get(cmd.command)
        if handler is None:
            return self._finish(
                cmd.command_id,
                CommandStatus.FAILED,
                f"{cmd.command.value} is not supported on this terminal",
            )
        limit = max(self.timeout, SLOW_COMMANDS.get(cmd.command, 0.0))
        try:
            result = handler(cmd)
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, limit)
        except TimeoutError:
            return self._finish(
                cmd.command_id, CommandStatus.FAILED, f"no result within {limit:g} s"
            )
        except CommandFailedError as exc:
            return self._finish(cmd.command_id, CommandStatus.FAILED, str(exc))
        except Exception as exc:  # a handler's failure is the command's result, reported
            return self._finish(
                cmd.command_id, CommandStatus.FAILED, f"{type(exc).__name__}: {exc}"
            )
        return self._finish(cmd.command_id, CommandStatus.OK, str(result or "done"))

    def close(self) -> None:
        with self._lock:
            self._db.close()
