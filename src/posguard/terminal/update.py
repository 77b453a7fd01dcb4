"""Software update with two slots (A/B): checked before it runs, proven before it is trusted.

Layout under ``root`` (the slots and the ``current`` link are
:class:`~posguard.terminal.update_slots.SlotLayout`'s)::

    slots/a/, slots/b/, current -> slots/a
    update.json       what the updater is doing and which versions are known good
                      (``posguard.terminal.update_state``)
    update.lock       held during an install, a rollback or a recovery

An update (:meth:`SlotUpdater.apply`) never makes the running terminal worse:

1. the package is copied into the *inactive* slot (a temporary directory renamed into
   place; the slot loses its *known good* mark first);
2. its health check runs *in that slot* while ``current`` still points to the running
   version, so a runtime restart during the check still runs the old one; a failed check
   leaves everything as it was and reports ``SW.UPDATE_FAILED``;
3. ``current`` is switched (a new symlink renamed over the old: ``rename(2)`` is atomic);
4. the new version is on *probation*: the watchdog (``posguard terminal supervise
   --update-root``, :mod:`posguard.terminal.update_guard`) confirms it once it has run
   healthy for ``probation_s``, and rolls it back if it crashes or freezes before that.
   With ``probation_s = 0`` it is confirmed at once.

:meth:`SlotUpdater.rollback` switches only to the other slot's version if it is *known
good* (it passed its probation on this terminal), after its health check, and refuses a
request issued before the software last changed. :meth:`SlotUpdater.recover` (at every
start) removes staging copies an interrupted install left, abandons an update whose check
was cut off, and finishes a switch or a rollback a power cut interrupted.

A package is a directory (or a ``.tar.gz`` of one) holding ``VERSION`` and, usually, an
executable ``healthcheck`` that exits 0 when the new version works on this terminal.

With ``trusted_keys`` (the terminal config's ``service.update_public_keys``) a package must
carry an Ed25519 signature by one of them (:mod:`posguard.common.package_signature`: given to
:meth:`SlotUpdater.apply`, or the ``<package>.sig`` file beside it); an unsigned or wrongly
signed package is refused before anything is copied (``SW.UPDATE_FAILED``, stage
``signature``). Without trusted keys packages are installed unsigned, as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from posguard.common.errors import ConfigError
from posguard.common.events import EventKind
from posguard.common.package_signature import parse_public_key, verify_package
from posguard.terminal.healthcheck import HealthCheck, HealthResult, process_health_check
from posguard.terminal.update_package import FAILED
from posguard.terminal.update_slots import SLOTS, SlotLayout, other
from posguard.terminal.update_state import (
    UpdateFailure,
    UpdateOutcome,
    UpdateRecord,
    UpdateResult,
    UpdateState,
    read_record,
    update_lock,
    write_record,
)

Emit = Callable[..., object]  # the outbox's emit(kind, code=None, **data)

__all__ = [
    "FAILED",
    "HealthCheck",
    "HealthResult",
    "SlotUpdater",
    "UpdateOutcome",
    "UpdateResult",
    "process_health_check",
]

log = logging.getLogger("posguard.terminal.update")


class SlotUpdater(SlotLayout):
    """Installs, checks, switches, confirms and rolls back versions in two slots."""

    def __init__(
        self,
        root: str | Path,
        health_check: HealthCheck | None = None,
        emit: Emit | None = None,
        *,
        probation_s: float = 0.0,
        create: bool = True,
        on_step: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        trusted_keys: Sequence[str] = (),
    ) -> None:
        for key in trusted_keys:  # a bad key is a config error at start, not at update time
            parse_public_key(key)
        self.trusted_keys = tuple(trusted_keys)
        self.health_check = health_check or process_health_check()
        self._emit_hook = emit
        self.probation_s = probation_s
        self._step = on_step or (lambda _step: None)
        self._clock = clock
        super().__init__(root, create=create)

    # -- state ------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.root / "update.json"

    def record(self) -> UpdateRecord:
        return read_record(self.state_file)

    def known_good(self, record: UpdateRecord | None = None) -> dict[str, str]:
        """Slot -> version that proved itself here (and is still what the slot holds).

        Before any update has been recorded, the version that runs is taken as known good
        (it was installed by the factory or by hand)."""
        rec = record or self.record()
        good = dict(rec.good)
        if not good and rec.state is UpdateState.IDLE and rec.changed_at == 0.0:
            active = self.active_slot()
            v = self.version(active)
            if v is not None:
                good[active] = v
        return {s: v for s, v in good.items() if s in SLOTS and self.version(s) == v}

    def _write(self, record: UpdateRecord) -> UpdateRecord:
        write_record(self.state_file, record)
        return record

    def _emit(self, kind: EventKind, code: str | None = None, **data: Any) -> None:
        if self._emit_hook is None:
            return
        try:
            self._emit_hook(kind, code, **data)
        except Exception:  # a failing event store never stops an update or a rollback
            log.exception("update event %s %s could not be recorded", kind.value, code)

    def _result(self, outcome: UpdateOutcome, detail: str) -> UpdateResult:
        active = self.active_slot()
        return UpdateResult(outcome, active, self.version(active), detail)

    def _failed(
        self, rec: UpdateRecord, stage: str, reason: str, *, to_version: str | None
    ) -> UpdateRecord:
        """Record and report a failed update (``SW.UPDATE_FAILED``)."""
        failure = UpdateFailure(self._clock(), to_version, stage, reason[:300])
        rec = self._write(rec.but(last_failure=failure))
        self._emit(
            EventKind.FAULT,
            FAILED,
            from_version=rec.from_version,
            to_version=to_version,
            stage=stage,
            reason=reason[:300],
            running=self.version(),
        )
        return rec

    # -- install ------------------------------------------------------------------------------
    def install(self, package: str | Path, *, sha256: str | None = None) -> str:
        """Copy ``package`` into the inactive slot; returns its version. Raises ConfigError."""
        return self.copy_in(
            package, sha256=sha256, on_step=self._step, before_replace=self._forget_good
        )

    def _forget_good(self, slot: str) -> None:
        rec = self.record()
        good = self.known_good(rec)
        if slot in good or good != rec.good:
            good.pop(slot, None)
            self._write(rec.but(good=good, changed_at=rec.changed_at or self._clock()))

    # -- apply --------------------------------------------------------------------------------
    def apply(
        self, package: str | Path, *, sha256: str | None = None, signature: str | None = None
    ) -> UpdateResult:
        """Verify its signature (with trusted keys), install, check in the new slot, switch,
        then probation (or confirm at once)."""
        with update_lock(self.root, wait=False) as locked:
            if not locked:
                return self._result(
                    UpdateOutcome.REFUSED, "another update or rollback is in progress"
                )
            rec = self._recover_locked(self.record())
            if rec.state is UpdateState.PROBATION:
                return self._result(
                    UpdateOutcome.REFUSED,
                    f"version {rec.to_version} is still on probation: wait until the watchdog "
                    "confirms it, or roll back",
                )
            if self.trusted_keys:
                try:
                    verify_package(Path(package), signature, self.trusted_keys)
                except ConfigError as exc:
                    self._failed(rec, "signature", exc.message, to_version=None)
                    return self._result(UpdateOutcome.REFUSED, exc.message)
            from_slot = self.active_slot()
            target = other(from_slot)
            rec = self._write(
                rec.but(
                    good=self.known_good(rec),  # recorded, the factory version included
                    from_slot=from_slot,
                    to_slot=target,
                    from_version=self.version(from_slot),
                    to_version=None,
                    back_to=None,
                    changed_at=rec.changed_at or self._clock(),
                )
            )
            try:
                to_version = self.install(package, sha256=sha256)
            except ConfigError as exc:
                self._failed(self.record(), "install", exc.message, to_version=None)
                return self._result(UpdateOutcome.REFUSED, exc.message)
            rec = self.record()  # install forgot the slot's good mark
            rec = self._write(
                rec.but(
                    state=UpdateState.CHECKING, to_version=to_version, probation_s=self.probation_s
                )
            )
            self._emit(
                EventKind.LIFECYCLE,
                None,
                event="update_started",
                from_version=rec.from_version,
                to_version=to_version,
                slot=target,
            )
            self._step("checking")
            check = self.health_check(self.slot_dir(target))
            self._step("checked")
            if not check.ok:
                rec = self._write(rec.but(state=UpdateState.IDLE))
                self._failed(rec, "health_check", check.detail, to_version=to_version)
                return self._result(UpdateOutcome.FAILED, check.detail)
            rec = self._write(rec.but(state=UpdateState.PROBATION, changed_at=self._clock()))
            self._step("probation")
            self.point_current(target)
            self._step("switched")
            self._emit(
                EventKind.LIFECYCLE,
                None,
                event="update_switched",
                from_version=rec.from_version,
                to_version=to_version,
                slot=target,
                probation_s=rec.probation_s,
            )
            if rec.probation_s <= 0:
                return self._confirm_locked(rec, check.detail)
            return self._result(
                UpdateOutcome.ON_PROBATION,
                f"{check.detail}; on probation for {rec.probation_s:g} s under the watchdog",
            )

    # -- probation: confirm or fail -------------------------------------------------------------
    def confirm(self) -> UpdateResult | None:
        """The version on probation ran healthy long enough: it becomes known good."""
        with update_lock(self.root, wait=False) as locked:
            rec = self.record()
            if not locked or rec.state is not UpdateState.PROBATION:
                return None
            if self.active_slot() != rec.to_slot:
                return None  # not switched yet: recover() finishes that first
            return self._confirm_locked(rec, "ran healthy through its probation")

    def _confirm_locked(self, rec: UpdateRecord, detail: str) -> UpdateResult:
        slot = self.active_slot()
        running = self.version(slot)
        good = dict(self.known_good(rec))
        if running is not None:
            good[slot] = running
        self._write(rec.but(state=UpdateState.IDLE, good=good, changed_at=self._clock()))
        self._step("confirmed")
        self._emit(
            EventKind.LIFECYCLE,
            None,
            event="updated",
            from_version=rec.from_version,
            to_version=running,  # what ``current`` really points to
            slot=slot,
        )
        return self._result(UpdateOutcome.UPDATED, detail)

    def fail_probation(self, reason: str) -> UpdateResult | None:
        """The version on probation crashed or froze: back to the known good version."""
        with update_lock(self.root, wait=True):
            rec = self.record()
            if rec.state is not UpdateState.PROBATION or rec.from_slot is None:
                return None
            return self._roll_back_locked(rec, rec.from_slot, "probation", reason)

    def _roll_back_locked(
        self, rec: UpdateRecord, back_to: str, stage: str | None, reason: str
    ) -> UpdateResult:
        failed_version = self.version()
        rec = self._write(rec.but(state=UpdateState.ROLLING_BACK, back_to=back_to))
        self._step("rolling_back")
        self.point_current(back_to)
        self._step("rolled_back")
        rec = self._write(rec.but(state=UpdateState.IDLE, back_to=None, changed_at=self._clock()))
        if stage is not None:
            self._failed(rec, stage, reason, to_version=failed_version)
        self._emit(
            EventKind.LIFECYCLE,
            None,
            event="rolled_back",
            version=self.version(back_to),
            slot=back_to,
            from_version=failed_version,
            automatic=stage is not None,
        )
        return self._result(
            UpdateOutcome.ROLLED_BACK if stage is None else UpdateOutcome.FAILED, reason
        )

    # -- recovery at start ------------------------------------------------------------------------
    def recover(self) -> UpdateResult | None:
        """At every start: clean up and finish what a crash or power cut interrupted.

        Cheap (no health check runs here), so it fits before the watchdog counts. Returns
        None when there was nothing to finish, or when another process is updating."""
        with update_lock(self.root, wait=False) as locked:
            if not locked:
                return None
            before = self.record()
            after = self._recover_locked(before)
            if after == before:
                return None
            outcome = {
                UpdateState.PROBATION: UpdateOutcome.ON_PROBATION,
                UpdateState.IDLE: UpdateOutcome.FAILED
                if before.state is UpdateState.CHECKING
                else UpdateOutcome.ROLLED_BACK,
            }.get(after.state, UpdateOutcome.REFUSED)
            return self._result(outcome, f"recovered from {before.state.value}")

    def _recover_locked(self, rec: UpdateRecord) -> UpdateRecord:
        self.clean_staging()
        if rec.state is UpdateState.CHECKING:
            # cut off during its check: ``current`` never moved; the update is abandoned
            rec = self._write(rec.but(state=UpdateState.IDLE))
            return self._failed(
                rec,
                "health_check",
                "interrupted during its health check (power loss or restart): not installed, "
                "send the update again",
                to_version=rec.to_version,
            )
        if rec.state is UpdateState.ROLLING_BACK and rec.back_to is not None:
            self.point_current(rec.back_to)
            return self._write(
                rec.but(state=UpdateState.IDLE, back_to=None, changed_at=self._clock())
            )
        if rec.state is UpdateState.PROBATION and rec.to_slot is not None:
            if self.active_slot() != rec.to_slot:
                self.point_current(rec.to_slot)  # checked, recorded, switch cut off: finish it
                rec = self._write(rec.but(changed_at=self._clock()))
            if rec.probation_s <= 0:  # no probation asked for: it passed its check
                self._confirm_locked(rec, "health check passed before the interruption")
                return self.record()
        return rec

    # -- rollback on request ----------------------------------------------------------------------
    def rollback(self, *, issued_at: datetime | None = None) -> UpdateResult:
        """Switch to the other slot if it holds a known good version that passes its check.

        ``issued_at`` (a remote command): refused when the software changed after it was
        issued -- the request was made about a state that is gone."""
        with update_lock(self.root, wait=False) as locked:
            if not locked:
                return self._result(
                    UpdateOutcome.REFUSED, "another update or rollback is in progress"
                )
            rec = self._recover_locked(self.record())
            if issued_at is not None and issued_at.tzinfo is None:
                issued_at = issued_at.replace(tzinfo=UTC)
            if issued_at is not None and rec.changed_at:
                changed = datetime.fromtimestamp(rec.changed_at, UTC)
                if issued_at < changed:
                    return self._result(
                        UpdateOutcome.REFUSED,
                        f"issued {issued_at.isoformat(timespec='seconds')}, before the software "
                        f"last changed ({changed.isoformat(timespec='seconds')}): "
                        "no longer applies",
                    )
            target = self.inactive_slot()
            version = self.version(target)
            if version is None:
                return self._result(
                    UpdateOutcome.REFUSED, f"slot {target} holds no version to roll back to"
                )
            if self.known_good(rec).get(target) != version:
                return self._result(
                    UpdateOutcome.REFUSED,
                    f"slot {target} holds {version}, which is not known good on this terminal "
                    "(it never passed its probation): not switching to it",
                )
            check = self.health_check(self.slot_dir(target))
            if not check.ok:
                self._failed(rec, "rollback_check", check.detail, to_version=version)
                return self._result(
                    UpdateOutcome.REFUSED, f"{version} failed its health check: {check.detail}"
                )
            if rec.state is UpdateState.PROBATION:  # an update on probation is abandoned
                rec = self._write(
                    rec.but(
                        last_failure=UpdateFailure(
                            self._clock(), rec.to_version, "probation", "rolled back on request"
                        )
                    )
                )
            return self._roll_back_locked(rec, target, None, f"rolled back to {version}")

    # -- status -----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        rec = self.record()
        active = self.active_slot()
        failure = rec.last_failure
        return {
            "active_slot": active,
            "running": self.version(active),
            "slots": {s: self.version(s) for s in SLOTS},
            "known_good": self.known_good(rec),
            "state": rec.state.value,
            "to_version": rec.to_version if rec.state is not UpdateState.IDLE else None,
            "probation_s": rec.probation_s if rec.state is UpdateState.PROBATION else None,
            "last_failure": None if failure is None else failure.as_status(FAILED),
            "signed_only": bool(self.trusted_keys),
        }
