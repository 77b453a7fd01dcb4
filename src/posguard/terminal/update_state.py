"""What the two-slot updater records in ``update.json``, and the lock one update holds.

The record is rewritten whole (temp file, fsync, rename, fsync of the directory), so after
a power cut it is the old record or the new one, never half of each.

``state`` is one of:

=============  ===========================================================================
idle           nothing under way
checking       a package is installed in ``to_slot`` and its health check runs there;
               ``current`` has not moved (a restart now still runs ``from_slot``)
probation      ``current`` points to ``to_slot``; the version must run healthy for
               ``probation_s`` under the watchdog before it is *known good*
rolling_back   ``current`` is being pointed to ``back_to`` (a known good version)
=============  ===========================================================================

``good`` maps a slot to the version that passed its probation there (the *known good*
versions); installing into a slot removes its entry first. ``changed_at`` is when the
software last changed (a switch, a confirmation, a rollback): a remote command issued
before it no longer applies. ``last_failure`` is the last failed update, for
``update status``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from posguard.common.locking import try_flock


class UpdateState(StrEnum):
    IDLE = "idle"
    CHECKING = "checking"
    PROBATION = "probation"
    ROLLING_BACK = "rolling_back"


class UpdateOutcome(StrEnum):
    UPDATED = "updated"  # switched and confirmed known good
    ON_PROBATION = "on_probation"  # switched; confirmed after running healthy for a while
    FAILED = "failed"  # the new version failed its check or probation: the old one runs
    ROLLED_BACK = "rolled_back"  # switched back to a known good version
    REFUSED = "refused"  # bad package, or a rollback that does not apply: nothing switched


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What one update, confirmation, rollback or recovery came to."""

    outcome: UpdateOutcome
    active_slot: str
    version: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class UpdateFailure:
    at: float
    to_version: str | None
    stage: str
    reason: str

    def as_status(self, code: str) -> dict[str, Any]:
        """The failure as ``update status`` shows it (time in UTC, ISO 8601)."""
        return {
            "code": code,
            "at": datetime.fromtimestamp(self.at, UTC).isoformat(timespec="seconds"),
            "to_version": self.to_version,
            "stage": self.stage,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    state: UpdateState = UpdateState.IDLE
    from_slot: str | None = None
    to_slot: str | None = None
    from_version: str | None = None
    to_version: str | None = None
    back_to: str | None = None  # rolling_back: the slot ``current`` is pointed back to
    probation_s: float = 0.0
    changed_at: float = 0.0
    good: dict[str, str] = field(default_factory=dict)
    last_failure: UpdateFailure | None = None

    def but(self, **changes: Any) -> UpdateRecord:
        return replace(self, **changes)

    def to_json(self) -> str:
        data = asdict(self)
        data["state"] = self.state.value
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> UpdateRecord:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("update record is not an object")
        state = str(data.get("state", "idle"))
        if state == "switched":  # written by the updater before probation existed
            state = UpdateState.PROBATION.value
        failure = data.get("last_failure")
        return cls(
            state=UpdateState(state),
            from_slot=data.get("from_slot"),
            to_slot=data.get("to_slot"),
            from_version=data.get("from_version"),
            to_version=data.get("to_version"),
            back_to=data.get("back_to"),
            probation_s=float(data.get("probation_s") or 0.0),
            changed_at=float(data.get("changed_at") or 0.0),
            good={str(k): str(v) for k, v in (data.get("good") or {}).items()},
            last_failure=UpdateFailure(**failure) if isinstance(failure, dict) else None,
        )


def read_record(path: Path) -> UpdateRecord:
    """The stored record; a missing or unreadable one is ``idle`` with nothing known."""
    try:
        return UpdateRecord.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return UpdateRecord()


def write_record(path: Path, record: UpdateRecord) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(record.to_json())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def update_lock(root: Path, *, wait: bool) -> Iterator[bool]:
    """``flock`` on ``root/update.lock``: one install, rollback or recovery at a time, across
    processes. Yields False (lock not taken) when ``wait`` is off and another holds it; the
    kernel drops the lock when its holder dies, so a crashed update never blocks the next."""
    fd = os.open(root / "update.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        yield try_flock(fd, wait=wait)
    finally:
        os.close(fd)
