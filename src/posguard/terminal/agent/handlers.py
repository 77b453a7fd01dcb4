"""The runtime's answers to remote commands: one handler per command, built from its parts.

``command_handlers(...)`` wires the fleet's commands to what the terminal already does:

=============  =====================================================================
re_sign_on     ``runtime.sign_on()``; fails unless the host answers 00
settle         ``runtime.settle()``; fails with the catalog code when it does not balance
reprint        ``print_queue.reprint_last(copy=args.copy)``; fails when nothing printed yet
rollback       ``updater.rollback(issued_at=)`` (two-slot update): only to the other slot's
               version if it is known good and passes its health check, and only if
               the software has not changed since the command was issued; else failed
reboot         ``reboot()`` scheduled ``reboot_delay`` s later, so the acknowledgement is
               stored first (the supervisor restarts the runtime, which resumes its work)
update_config  ``update_config(args)``, supplied by the runtime; returns a short detail
doctor         ``doctor()``: every ``terminal doctor`` check; fails when one fails, naming
               each failed check with its catalog code
=============  =====================================================================

A part that is not given leaves its command out: the dispatcher then answers "not
supported on this terminal".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from posguard.terminal.agent.commands import Command, CommandName, Handler
from posguard.terminal.printer.queue import PrintQueue
from posguard.terminal.update import SlotUpdater, UpdateOutcome


class CommandFailedError(Exception):
    """A handler's way to say the command ran and did not succeed (detail = message)."""


class DoctorFinding(Protocol):
    """What the doctor command reads of one check (``posguard.terminal.doctor.CheckReport``)."""

    @property
    def check_id(self) -> str: ...

    @property
    def target(self) -> str: ...

    @property
    def code(self) -> str | None: ...

    @property
    def failed(self) -> bool: ...


class RuntimeOps(Protocol):
    """What the handlers need from :class:`posguard.terminal.runtime.Terminal`."""

    async def sign_on(self) -> Any: ...

    async def settle(self) -> Any: ...


def command_handlers(
    *,
    runtime: RuntimeOps | None = None,
    print_queue: PrintQueue | None = None,
    updater: SlotUpdater | None = None,
    reboot: Callable[[], None] | None = None,
    update_config: Callable[[dict[str, Any]], str] | None = None,
    doctor: Callable[[], Awaitable[Sequence[DoctorFinding]]] | None = None,
    reboot_delay: float = 1.0,
) -> dict[CommandName, Handler]:
    handlers: dict[CommandName, Handler] = {}

    if runtime is not None:

        async def re_sign_on(cmd: Command) -> str:
            reply = await runtime.sign_on()
            rc = getattr(reply, "rc", None)
            if rc != "00":
                code = getattr(reply, "code", None)
                raise CommandFailedError(f"sign-on failed: {code or 'rc ' + str(rc)}")
            return f"signed on with host {getattr(reply, 'host', None) or '?'}"

        async def settle(cmd: Command) -> str:
            result = await runtime.settle()
            if getattr(result, "code", None):
                raise CommandFailedError(
                    f"settlement of batch {result.batch} ended with {result.code} "
                    f"(rc {result.rc}, {result.uploaded} uploaded)"
                )
            return (
                f"batch {result.batch} settled, balanced={result.balanced}, "
                f"next batch {result.next_batch}"
            )

        handlers[CommandName.RE_SIGN_ON] = re_sign_on
        handlers[CommandName.SETTLE] = settle

    if print_queue is not None:

        def reprint(cmd: Command) -> str:
            copy = cmd.args.get("copy")
            if copy not in (None, "merchant", "cardholder"):
                raise CommandFailedError(f"copy must be merchant or cardholder, not {copy!r}")
            job = print_queue.reprint_last(copy=copy)
            if job is None:
                raise CommandFailedError("no receipt has been printed yet")
            return f"reprint queued as job {job}"

        handlers[CommandName.REPRINT] = reprint

    if updater is not None:

        async def rollback(cmd: Command) -> str:
            # the health check of the target runs in a thread: the loop keeps beating
            result = await asyncio.to_thread(updater.rollback, issued_at=cmd.issued_at)
            if result.outcome is not UpdateOutcome.ROLLED_BACK:
                raise CommandFailedError(f"rollback refused: {result.detail}")
            return f"slot {result.active_slot} now runs {result.version}"

        handlers[CommandName.ROLLBACK] = rollback

    if reboot is not None:

        def do_reboot(cmd: Command) -> str:
            asyncio.get_running_loop().call_later(reboot_delay, reboot)
            return f"restarting in {reboot_delay:g} s"

        handlers[CommandName.REBOOT] = do_reboot

    if update_config is not None:

        def do_update_config(cmd: Command) -> str:
            return update_config(dict(cmd.args))

        handlers[CommandName.UPDATE_CONFIG] = do_update_config

    if doctor is not None:

        async def run_doctor(cmd: Command) -> str:
            findings = await doctor()
            failed = [f for f in findings if f.failed]
            summary = f"{len(findings)} checks, {len(failed)} failed"
            if failed:
                named = "; ".join(f"{f.check_id} {f.target}: {f.code or '?'}" for f in failed)
                raise CommandFailedError(f"{summary}: {named}")
            return summary

        handlers[CommandName.DOCTOR] = run_doctor

    return handlers
