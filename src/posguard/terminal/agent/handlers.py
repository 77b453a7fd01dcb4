"""The runtime's answers to remote commands: one handler per command, built from its parts.

``command_handlers(...)`` wires the fleet's commands to what the terminal already does:

=============  =====================================================================
re_sign_on     ``runtime.sign_on()``; fails unless the host answers 00
settle         ``runtime.settle()``; fails with the catalog code when it does not balance
reprint        ``print_queue.reprint_last(copy=args.copy)``; fails when nothing printed yet
rollback       ``updater.rollback(issued_at=)`` (two-slot update): only to the other slot's
               version if it is known good and passes its health check, and only if
               the software has not changed since the command was issued; else failed.
               Once ``current`` moved, ``reboot()`` so the version rolled back to runs
               (as ``update`` does)
reboot         ``reboot()`` scheduled ``reboot_delay`` s later, so the acknowledgement is
               stored first (the supervisor restarts the runtime, which resumes its work)
update_config  ``update_config(args)``, supplied by the service (``terminal/config_push.py``):
               a short detail, or a :class:`ConfigApplied` whose ``restart_needed``
               then ``reboot()``s as ``update`` does; refusals raise
               ``CommandFailedError``
doctor         ``doctor()``: every ``terminal doctor`` check; fails when one fails, naming
               each failed check with its catalog code
update         ``fetch_package(sha256, size)`` downloads the package from the fleet and
               checks its size and SHA-256; its VERSION must be ``args.version``; then
               ``updater.apply`` (check in the inactive slot, switch, probation under the
               watchdog) and, once switched, ``reboot()`` so the new version runs; fails
               as ``SW.UPDATE_FAILED <stage>: <reason>`` (download, package, install,
               health_check, refused)
=============  =====================================================================

A part that is not given leaves its command out: the dispatcher then answers "not
supported on this terminal".
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from posguard.common.errors import ConfigError
from posguard.common.update_package import FAILED, read_archive_version
from posguard.terminal.agent.commands import Command, CommandFailedError, CommandName, Handler
from posguard.terminal.agent.package_fetch import PackageFetchError
from posguard.terminal.printer.queue import PrintQueue
from posguard.terminal.update import SlotUpdater, UpdateOutcome

FetchPackage = Callable[[str, int], Awaitable[Path]]
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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


class ConfigApplied(Protocol):
    """What ``update_config`` may return: its detail, and whether a restart must follow."""

    @property
    def detail(self) -> str: ...

    @property
    def restart_needed(self) -> bool: ...


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
    update_config: Callable[[dict[str, Any]], str | ConfigApplied] | None = None,
    doctor: Callable[[], Awaitable[Sequence[DoctorFinding]]] | None = None,
    fetch_package: FetchPackage | None = None,
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
            if reboot is not None:  # ``current`` moved: restart so that version runs
                asyncio.get_running_loop().call_later(reboot_delay, reboot)
                return (
                    f"slot {result.active_slot} now holds {result.version}: "
                    f"restarting in {reboot_delay:g} s"
                )
            return f"slot {result.active_slot} now holds {result.version}"

        handlers[CommandName.ROLLBACK] = rollback

    if updater is not None and fetch_package is not None:
        handlers[CommandName.UPDATE] = _update_handler(
            updater, fetch_package, reboot=reboot, reboot_delay=reboot_delay
        )

    if reboot is not None:

        def do_reboot(cmd: Command) -> str:
            asyncio.get_running_loop().call_later(reboot_delay, reboot)
            return f"restarting in {reboot_delay:g} s"

        handlers[CommandName.REBOOT] = do_reboot

    if update_config is not None:

        def do_update_config(cmd: Command) -> str:
            applied = update_config(dict(cmd.args))
            if isinstance(applied, str):
                return applied
            if not applied.restart_needed:
                return applied.detail
            if reboot is None:
                return f"{applied.detail} (restart the terminal to apply)"
            asyncio.get_running_loop().call_later(reboot_delay, reboot)
            return f"{applied.detail}; restarting in {reboot_delay:g} s"

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


def _update_failed(stage: str, reason: str) -> CommandFailedError:
    return CommandFailedError(f"{FAILED} {stage}: {reason}")


def _update_args(cmd: Command) -> tuple[str, str, int]:
    version, sha256, size = (cmd.args.get(k) for k in ("version", "sha256", "size"))
    if not isinstance(version, str) or not version.strip():
        raise _update_failed("arguments", "version is missing")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise _update_failed("arguments", "sha256 must be 64 lowercase hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise _update_failed("arguments", "size must be a positive number of bytes")
    return version.strip(), sha256, size


def _update_handler(
    updater: SlotUpdater,
    fetch_package: FetchPackage,
    *,
    reboot: Callable[[], None] | None,
    reboot_delay: float,
) -> Handler:
    async def update(cmd: Command) -> str:
        version, sha256, size = _update_args(cmd)
        try:
            package = await fetch_package(sha256, size)
        except PackageFetchError as exc:
            raise _update_failed("download", str(exc)) from None
        try:
            found = await asyncio.to_thread(read_archive_version, package)
        except ConfigError as exc:
            raise _update_failed("package", exc.message) from None
        if found != version:
            raise _update_failed("package", f"package holds {found}, the command said {version}")
        before = updater.record().last_failure
        result = await asyncio.to_thread(updater.apply, package, sha256=sha256)
        if result.outcome in (UpdateOutcome.REFUSED, UpdateOutcome.FAILED):
            failure = updater.record().last_failure  # a new one: the stage that failed
            stage = failure.stage if failure is not None and failure != before else "refused"
            raise _update_failed(stage, result.detail)
        if reboot is not None:  # ``current`` moved: restart so the new version runs
            asyncio.get_running_loop().call_later(reboot_delay, reboot)
        return f"slot {result.active_slot} now holds {result.version}: {result.detail}"

    return update
