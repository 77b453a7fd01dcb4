"""The two-slot layout an update works in, on disk: where the slots are, which one runs,
what version each holds, the atomic switch, and copying a package into the inactive slot.
What the updater is *doing* (checking, probation, rollback) is :mod:`posguard.terminal.update`.

Layout under ``root``::

    slots/a/          one installed version (a directory with a VERSION file)
    slots/b/          the other
    current -> slots/a   symlink: the version that runs; switched atomically
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final

from posguard.common.errors import ConfigError
from posguard.terminal.update_package import FAILED, check_sha256, unpack
from posguard.terminal.update_state import fsync_dir

SLOTS: Final = ("a", "b")


def other(slot: str) -> str:
    """The slot that is not ``slot``."""
    return "b" if slot == "a" else "a"


def _no_step(step: str) -> None:
    return None


class SlotLayout:
    """``slots/a``, ``slots/b`` and the ``current`` link under ``root``."""

    def __init__(self, root: str | Path, *, create: bool = True) -> None:
        self.root = Path(root)
        if not create:
            if not self.current_link.is_symlink() or not (self.root / "slots").is_dir():
                raise ConfigError(
                    f"{self.root} holds no two-slot layout (no slots/ and current link): "
                    "check --root"
                )
            return
        (self.root / "slots").mkdir(parents=True, exist_ok=True)
        for s in SLOTS:
            (self.root / "slots" / s).mkdir(exist_ok=True)
        if not self.current_link.is_symlink():
            self.point_current("a")

    @property
    def current_link(self) -> Path:
        return self.root / "current"

    def slot_dir(self, slot: str) -> Path:
        return self.root / "slots" / slot

    def active_slot(self) -> str:
        target = os.readlink(self.current_link)
        slot = Path(target).name
        if slot not in SLOTS:
            raise ConfigError(f"{self.current_link} points to {target}, not a slot")
        return slot

    def inactive_slot(self) -> str:
        return other(self.active_slot())

    def version(self, slot: str | None = None) -> str | None:
        """The version ``slot`` holds (default: the running one), None when it holds none."""
        f = self.slot_dir(slot or self.active_slot()) / "VERSION"
        try:
            return f.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def point_current(self, slot: str) -> None:
        """Switch ``current`` to ``slot``: a new link renamed over the old (atomic)."""
        tmp = self.root / f".current-{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(Path("slots") / slot, tmp)
        os.replace(tmp, self.current_link)  # atomic: always one whole version
        fsync_dir(self.root)

    def copy_in(
        self,
        package: str | Path,
        *,
        sha256: str | None = None,
        on_step: Callable[[str], None] = _no_step,
        before_replace: Callable[[str], None] = _no_step,
    ) -> str:
        """Copy ``package`` into the inactive slot (a staging directory renamed into place;
        ``before_replace(slot)`` runs just before the slot's old content goes); returns its
        version. Raises ConfigError (code SW.UPDATE_FAILED)."""
        package = Path(package)
        if sha256 is not None:
            check_sha256(package, sha256)
        target = self.inactive_slot()
        staging = Path(tempfile.mkdtemp(prefix=f".install-{target}-", dir=self.root / "slots"))
        try:
            version = unpack(package, staging)
            on_step("copied")
            old = self.slot_dir(target)
            trash = self.root / "slots" / f".old-{target}-{os.getpid()}"
            before_replace(target)
            os.replace(old, trash)
            on_step("slot_removed")
            os.replace(staging, old)
            shutil.rmtree(trash, ignore_errors=True)
            fsync_dir(self.root / "slots")
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ConfigError(
                f"cannot install update package {package.name}: {exc}", code=FAILED
            ) from exc
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return version

    def clean_staging(self) -> None:
        """Remove copies an interrupted install left, and recreate a slot it had moved away."""
        slots = self.root / "slots"
        for leftover in [*slots.glob(".install-*"), *slots.glob(".old-*")]:
            shutil.rmtree(leftover, ignore_errors=True)
        for s in SLOTS:
            (slots / s).mkdir(exist_ok=True)
