"""The terminal service's remote commands: which handlers it wires, from what it has.

Every part the service holds becomes a command (``agent/handlers.py``): the runtime
(``re_sign_on``, ``settle``), the print queue (``reprint``), the two-slot updater
(``rollback``; ``update`` with the fleet's package credential), the restart (``reboot``), the
doctor, and, when the service knows its config file, ``update_config``
(:mod:`posguard.terminal.config_push`: checked, written atomically, applied live or by a
restart). The heartbeat's ``commands`` lists exactly these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from posguard.common.errors import ConfigError
from posguard.terminal import config_push
from posguard.terminal.agent.commands import CommandFailedError, CommandName, Handler
from posguard.terminal.agent.handlers import DoctorFinding, FetchPackage, command_handlers
from posguard.terminal.printer.queue import PrintQueue
from posguard.terminal.runtime import Terminal
from posguard.terminal.service_config import ServiceConfig
from posguard.terminal.update import SlotUpdater


@dataclass(frozen=True, slots=True)
class ConfigPushed:
    """``update_config``'s answer (``agent.handlers.ConfigApplied``)."""

    detail: str
    restart_needed: bool


class LiveConfig(Protocol):
    """What the service does with the parameters a push applies live."""

    def apply_live(self, cfg: ServiceConfig, keys: Sequence[str]) -> None: ...


def config_updater(path: Path, target: LiveConfig) -> Callable[[dict[str, Any]], ConfigPushed]:
    """The ``update_config`` handler's part: push into ``path``, apply what is live."""

    def update_config(args: dict[str, Any]) -> ConfigPushed:
        try:
            found = config_push.push(path, args)
        except config_push.PushRefusedError as exc:
            raise CommandFailedError(f"config refused: {exc}") from None
        except ConfigError as exc:  # the file on the terminal itself is unreadable
            raise CommandFailedError(f"config not changed: {exc.message}") from None
        except OSError as exc:
            raise CommandFailedError(f"config not written: {exc}") from None
        if found.live:
            target.apply_live(found.config, found.live)
        detail = config_push.summary(found)
        if found.changes:
            detail += f" (previous file kept as {config_push.previous_path(path).name})"
        return ConfigPushed(detail, bool(found.restart))

    return update_config


def service_handlers(
    *,
    terminal: Terminal,
    queue: PrintQueue | None,
    updater: SlotUpdater | None,
    restart: Callable[[], None],
    doctor: Callable[[], Awaitable[Sequence[DoctorFinding]]],
    fetch_package: FetchPackage | None,
    config_path: Path | None,
    live: LiveConfig,
) -> dict[CommandName, Handler]:
    return command_handlers(
        runtime=terminal,
        print_queue=queue,
        updater=updater,
        reboot=restart,
        doctor=doctor,
        fetch_package=fetch_package,
        update_config=config_updater(config_path, live) if config_path is not None else None,
    )
