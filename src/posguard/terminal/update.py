"""Software update with two slots (A/B) and automatic rollback.

Layout under ``root``::

    slots/a/          one installed version (a directory with a VERSION file)
    slots/b/          the other
    current -> slots/a   symlink: the version that runs; switched atomically
    update.json       what the updater was doing, so a crash mid-update is finished on boot

An update is: install the package into the *inactive* slot (copied to a temporary
directory first, then renamed into place, so a half-copied slot never exists), switch
``current`` to it (a new symlink renamed over the old one: ``rename(2)`` is atomic, so
``current`` is always one whole version), then run the health check *in the new slot*.
If it fails -- or the terminal dies before it passes -- ``current`` is switched back to
the previous slot and ``SW.UPDATE_FAILED`` is reported with both versions and the reason.

A package is a directory (or a ``.tar.gz`` of one) holding ``VERSION`` and, usually,
an executable ``healthcheck`` that exits 0 when the new version works on this terminal.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from posguard.common.errors import ConfigError
from posguard.common.events import EventKind
from posguard.terminal.printer.queue import Emit

SLOTS: Final = ("a", "b")
FAILED: Final = "SW.UPDATE_FAILED"


class UpdateOutcome(StrEnum):
    UPDATED = "updated"  # switched and healthy
    ROLLED_BACK = "rolled_back"  # switched, unhealthy, switched back
    REFUSED = "refused"  # package bad (checksum, no VERSION, ...): nothing switched


@dataclass(frozen=True, slots=True)
class HealthResult:
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class UpdateResult:
    outcome: UpdateOutcome
    active_slot: str
    version: str | None
    detail: str


HealthCheck = Callable[[Path], HealthResult]


def process_health_check(timeout: float = 60.0, program: str = "healthcheck") -> HealthCheck:
    """Run ``<slot>/healthcheck`` (cwd = the slot); exit 0 within ``timeout`` means healthy."""

    def check(slot: Path) -> HealthResult:
        exe = slot / program
        if not exe.is_file():
            return HealthResult(False, f"{program} is missing from the package")
        try:
            proc = subprocess.run(  # noqa: S603
                [str(exe)], cwd=slot, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return HealthResult(False, f"{program} gave no answer within {timeout:g} s")
        except OSError as exc:
            return HealthResult(False, f"{program} could not run: {exc}")
        tail = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip()[-300:]
        if proc.returncode != 0:
            return HealthResult(False, f"{program} exited {proc.returncode}: {tail}")
        return HealthResult(True, tail or "healthy")

    return check


def _no_emit(kind: EventKind, code: str | None = None, **data: Any) -> object:
    return None


class SlotUpdater:
    """Installs, switches, checks and rolls back versions in two slots under ``root``."""

    def __init__(
        self, root: str | Path, health_check: HealthCheck | None = None, emit: Emit | None = None
    ) -> None:
        self.root = Path(root)
        self.health_check = health_check or process_health_check()
        self._emit: Emit = emit or _no_emit
        (self.root / "slots").mkdir(parents=True, exist_ok=True)
        for s in SLOTS:
            (self.root / "slots" / s).mkdir(exist_ok=True)
        if not self.current_link.is_symlink():
            self._point_current("a")

    # -- paths and state ---------------------------------------------------------------------
    @property
    def current_link(self) -> Path:
        return self.root / "current"

    @property
    def state_file(self) -> Path:
        return self.root / "update.json"

    def slot_dir(self, slot: str) -> Path:
        return self.root / "slots" / slot

    def active_slot(self) -> str:
        target = os.readlink(self.current_link)
        slot = Path(target).name
        if slot not in SLOTS:
            raise ConfigError(f"{self.current_link} points to {target}, not a slot")
        return slot

    def inactive_slot(self) -> str:
        return "b" if self.active_slot() == "a" else "a"

    def version(self, slot: str | None = None) -> str | None:
        f = self.slot_dir(slot or self.active_slot()) / "VERSION"
        return f.read_text(encoding="utf-8").strip() if f.is_file() else None

    def _read_state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {"state": "idle"}
        return data

    def _write_state(self, **state: Any) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_file)
        _fsync_dir(self.root)

    def _point_current(self, slot: str) -> None:
        tmp = self.root / f".current-{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(Path("slots") / slot, tmp)
        os.replace(tmp, self.current_link)  # atomic: always one whole version
        _fsync_dir(self.root)

    # -- steps --------------------------------------------------------------------------------
    def install(self, package: str | Path, *, sha256: str | None = None) -> str:
        """Copy ``package`` into the inactive slot; returns its version. Raises ConfigError."""
        package = Path(package)
        if sha256 is not None:
            digest = _sha256(package)
            if digest != sha256.lower():
                raise ConfigError(
                    f"update package {package.name} checksum {digest[:12]}... does not match "
                    f"the expected {sha256[:12]}...",
                    code=FAILED,
                )
        target = self.inactive_slot()
        staging = Path(tempfile.mkdtemp(prefix=f".install-{target}-", dir=self.root / "slots"))
        try:
            if package.is_dir():
                shutil.copytree(package, staging, dirs_exist_ok=True, symlinks=True)
            elif package.is_file() and package.name.endswith((".tar.gz", ".tgz")):
                with tarfile.open(package, "r:gz") as tar:
                    tar.extractall(staging, filter="data")
            else:
                raise ConfigError(
                    f"update package {package} is not a directory or .tar.gz", code=FAILED
                )
            version_file = staging / "VERSION"
            if not version_file.is_file():
                raise ConfigError(f"update package {package.name} has no VERSION file", code=FAILED)
            version = version_file.read_text(encoding="utf-8").strip()
            old = self.slot_dir(target)
            trash = self.root / "slots" / f".old-{target}-{os.getpid()}"
            os.replace(old, trash)
            os.replace(staging, old)
            shutil.rmtree(trash, ignore_errors=True)
            _fsync_dir(self.root / "slots")
        except (OSError, tarfile.TarError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ConfigError(
                f"cannot install update package {package}: {exc}", code=FAILED
            ) from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return version

    def apply(self, package: str | Path, *, sha256: str | None = None) -> UpdateResult:
        """Install, switch, check; roll back on failure. Never leaves a broken version active."""
        from_slot = self.active_slot()
        from_version = self.version(from_slot)
        try:
            to_version = self.install(package, sha256=sha256)
        except ConfigError as exc:
            self._emit(
                EventKind.FAULT,
                FAILED,
                from_version=from_version,
                to_version=None,
                stage="install",
                reason=exc.message,
            )
            return UpdateResult(UpdateOutcome.REFUSED, from_slot, from_version, exc.message)
        to_slot = self.inactive_slot()
        self._emit(
            EventKind.LIFECYCLE,
            None,
            event="update_started",
            from_version=from_version,
            to_version=to_version,
            slot=to_slot,
        )
        self._write_state(
            state="switched",
            from_slot=from_slot,
            to_slot=to_slot,
            from_version=from_version,
            to_version=to_version,
        )
        self._point_current(to_slot)
        return self._confirm_or_roll_back()

    def _confirm_or_roll_back(self) -> UpdateResult:
        st = self._read_state()
        to_slot, from_slot = st["to_slot"], st["from_slot"]
        result = self.health_check(self.slot_dir(to_slot))
        if result.ok:
            self._write_state(state="idle", confirmed=st["to_version"], previous_slot=from_slot)
            self._emit(
                EventKind.LIFECYCLE,
                None,
                event="updated",
                from_version=st["from_version"],
                to_version=st["to_version"],
                slot=to_slot,
            )
            return UpdateResult(UpdateOutcome.UPDATED, to_slot, st["to_version"], result.detail)
        self._point_current(from_slot)
        self._write_state(state="idle", rolled_back=st["to_version"], previous_slot=to_slot)
        self._emit(
            EventKind.FAULT,
            FAILED,
            from_version=st["from_version"],
            to_version=st["to_version"],
            stage="health_check",
            reason=result.detail[:300],
        )
        self._emit(
            EventKind.LIFECYCLE,
            None,
            event="rolled_back",
            version=st["from_version"],
            slot=from_slot,
            automatic=True,
        )
        return UpdateResult(UpdateOutcome.ROLLED_BACK, from_slot, st["from_version"], result.detail)

    def recover(self) -> UpdateResult | None:
        """At boot: finish an update a crash interrupted between switch and confirmation."""
        if self._read_state().get("state") != "switched":
            return None
        return self._confirm_or_roll_back()

    def rollback(self) -> UpdateResult:
        """Switch back to the other slot on request (remote command ``rollback``)."""
        other = self.inactive_slot()
        version = self.version(other)
        if version is None:
            raise ConfigError(f"slot {other} holds no version to roll back to")
        previous = self.version()
        self._point_current(other)
        self._write_state(state="idle", previous_slot=self.inactive_slot())
        self._emit(
            EventKind.LIFECYCLE,
            None,
            event="rolled_back",
            version=version,
            slot=other,
            from_version=previous,
            automatic=False,
        )
        return UpdateResult(
            UpdateOutcome.ROLLED_BACK, other, version, f"rolled back from {previous}"
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(path)).encode())
            h.update(f.read_bytes())
    else:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(65536), b""):
                h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
