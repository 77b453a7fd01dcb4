"""The remote commands: one definition shared by the fleet (API schema, rules, dashboard) and
the terminal agent, so a command one side offers is a command the other side knows.

Each command names the terminal capability it needs (a terminal without a printer has no
``reprint``), where the dashboard offers it, and who may issue it. The terminal and the
fleet share this module and ``common.events``, nothing else.

>>> RemoteCommand("doctor") in COMMANDS
True
>>> COMMANDS[RemoteCommand.REPRINT].needs
<Capability.PRINTER: 'printer'>
>>> sorted(c.value for c in offered_on(Page.TERMINAL))
['doctor', 're_sign_on', 'reboot', 'reprint']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class RemoteCommand(StrEnum):
    REBOOT = "reboot"
    RE_SIGN_ON = "re_sign_on"
    REPRINT = "reprint"
    SETTLE = "settle"
    ROLLBACK = "rollback"
    UPDATE_CONFIG = "update_config"
    DOCTOR = "doctor"
    UPDATE = "update"


class Capability(StrEnum):
    """What a terminal must have for a command to make sense."""

    RUNTIME = "runtime"  # a payment runtime talking to a host
    PRINTER = "printer"
    UPDATER = "updater"  # the two-slot software updater
    SUPERVISOR = "supervisor"  # a watchdog that restarts the runtime
    CONFIG = "config"  # a writable configuration
    DOCTOR = "doctor"  # the self-check


class Page(StrEnum):
    """Where the dashboard offers a command as a button."""

    TERMINAL = "terminal"
    INCIDENT = "incident"


class Issuer(StrEnum):
    """Who may issue a command: staff (operations and administrators), never a merchant."""

    STAFF = "staff"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: RemoteCommand
    needs: Capability
    pages: frozenset[Page]
    args: Mapping[str, str]  # argument -> what it holds (all optional)
    issuer: Issuer = Issuer.STAFF


def _spec(
    name: RemoteCommand,
    needs: Capability,
    pages: tuple[Page, ...] = (),
    args: dict[str, str] | None = None,
) -> CommandSpec:
    return CommandSpec(name, needs, frozenset(pages), MappingProxyType(dict(args or {})))


_BOTH = (Page.TERMINAL, Page.INCIDENT)

COMMANDS: Final[Mapping[RemoteCommand, CommandSpec]] = MappingProxyType(
    {
        s.name: s
        for s in (
            _spec(RemoteCommand.RE_SIGN_ON, Capability.RUNTIME, _BOTH),
            _spec(RemoteCommand.REBOOT, Capability.SUPERVISOR, _BOTH),
            _spec(
                RemoteCommand.REPRINT,
                Capability.PRINTER,
                _BOTH,
                {"copy": "merchant or cardholder (default: both)"},
            ),
            _spec(RemoteCommand.SETTLE, Capability.RUNTIME, (Page.INCIDENT,)),
            _spec(RemoteCommand.ROLLBACK, Capability.UPDATER),
            _spec(
                RemoteCommand.UPDATE_CONFIG,
                Capability.CONFIG,
                args={"<key>": "configuration keys to change, with their new values"},
            ),
            _spec(RemoteCommand.DOCTOR, Capability.DOCTOR, (Page.TERMINAL,)),
            _spec(
                RemoteCommand.UPDATE,
                Capability.UPDATER,
                args={
                    "version": "the package's version (its VERSION file)",
                    "sha256": "the package's SHA-256, checked after the download",
                    "size": "the package's size in bytes, checked after the download",
                    "signature": "the package's Ed25519 signature (base64), when it is signed; "
                    "a terminal that trusts signing keys refuses a package without a good one",
                },
            ),
        )
    }
)
assert set(COMMANDS) == set(RemoteCommand), "every command has exactly one spec"

COMMAND_NAMES: Final = frozenset(c.value for c in RemoteCommand)


def offered_on(page: Page) -> tuple[RemoteCommand, ...]:
    """The commands the dashboard offers on ``page``, in the enum's order."""
    return tuple(c for c in RemoteCommand if page in COMMANDS[c].pages)
