"""The watchdog's side of a two-slot update (:class:`~posguard.terminal.update.SlotUpdater`).

The supervisor is the one process that outlives a runtime crashing at start, so it is the
one that decides about a version on probation:

- before each start of the child (outside the heartbeat clock) it finishes an interrupted
  update (:meth:`SlotUpdater.recover`, no health check, quick); if the child it had started
  on the version on probation crashed or froze, that version is rolled back first;
- about once an interval it confirms the version on probation once the child started on it
  has beaten for ``probation_s``, and asks for a restart when ``current`` was switched under
  the running child (an ``update apply``, a rollback), so what runs is what ``current`` says.
"""

from __future__ import annotations

from posguard.terminal.update import SlotUpdater
from posguard.terminal.update_state import UpdateState
from posguard.terminal.watchdog import StartReason


class UpdateGuard:
    """Hooks for :class:`~posguard.terminal.watchdog.Supervisor` (``hooks=``)."""

    def __init__(self, updater: SlotUpdater) -> None:
        self.updater = updater
        self.started_slot: str | None = None  # the slot the running child was started from
        self.started_version: str | None = None

    def before_start(self, reason: StartReason) -> None:
        rec = self.updater.record()
        if (
            reason in (StartReason.CRASH, StartReason.FREEZE)
            and rec.state is UpdateState.PROBATION
            and self.started_slot is not None
            and self.started_slot == rec.to_slot
        ):
            what = "crashed" if reason is StartReason.CRASH else "froze"
            self.updater.fail_probation(
                f"version {rec.to_version} {what} during its probation of {rec.probation_s:g} s"
            )
        self.updater.recover()
        self.started_slot = self.updater.active_slot()
        self.started_version = self.updater.version(self.started_slot)

    def check(self, alive_for: float | None) -> bool:
        active = self.updater.active_slot()
        if self.started_slot is not None and active != self.started_slot:
            return True  # current moved: restart the child on the version it names now
        if alive_for is None:
            return False
        rec = self.updater.record()
        if (
            rec.state is UpdateState.PROBATION
            and rec.to_slot == active
            and alive_for >= rec.probation_s
        ):
            self.updater.confirm()
        return False
