"""An update package: a directory, or a ``.tar.gz`` of one, holding ``VERSION`` and usually an
executable ``healthcheck``. Checked (SHA-256) and unpacked into a staging directory; every
way it can be bad -- wrong checksum, not a package, truncated archive, no version -- is one
clear :class:`~posguard.common.errors.ConfigError` naming the package.

Shared by the terminal (which installs packages) and the fleet (which checks an upload with
:func:`read_archive_version` before it offers the package to a rollout)."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import Final

from posguard.common.errors import ConfigError

FAILED: Final = "SW.UPDATE_FAILED"


def package_sha256(path: Path) -> str:
    """SHA-256 of an archive's bytes, or of a directory's file names and contents."""
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


def check_sha256(package: Path, expected: str) -> None:
    digest = package_sha256(package)
    if digest != expected.lower():
        raise ConfigError(
            f"update package {package.name} checksum {digest[:12]}... does not match "
            f"the expected {expected[:12]}...",
            code=FAILED,
        )


def unpack(package: Path, staging: Path) -> str:
    """Copy or extract ``package`` into the (existing, empty) ``staging``; its version."""
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
    except (EOFError, zlib.error) as exc:  # a truncated or corrupt archive
        raise ConfigError(
            f"update package {package.name} is truncated or corrupt ({exc}): not installed",
            code=FAILED,
        ) from exc
    except (OSError, tarfile.TarError) as exc:
        raise ConfigError(
            f"cannot install update package {package.name}: {exc}", code=FAILED
        ) from exc
    version_file = staging / "VERSION"
    if not version_file.is_file():
        raise ConfigError(f"update package {package.name} has no VERSION file", code=FAILED)
    version = version_file.read_text(encoding="utf-8").strip()
    if not version:
        raise ConfigError(f"update package {package.name}: VERSION is empty", code=FAILED)
    return version


def read_archive_version(package: Path, *, max_members: int = 10_000) -> str:
    """The version a ``.tar.gz`` package holds, read without extracting it; ConfigError when
    it is not a readable gzip tar, holds an unsafe member (absolute, ``..``, a device), or
    has no non-empty top-level ``VERSION`` file."""
    name = package.name
    version: str | None = None
    try:
        with tarfile.open(package, "r:gz") as tar:
            for count, member in enumerate(tar, start=1):
                if count > max_members:
                    raise ConfigError(f"update package {name}: more than {max_members} files")
                path = member.name.removeprefix("./")
                if path.startswith("/") or ".." in Path(path).parts:
                    raise ConfigError(f"update package {name}: unsafe path {member.name!r}")
                if not (member.isfile() or member.isdir() or member.issym()):
                    raise ConfigError(
                        f"update package {name}: {member.name!r} is not a file or directory"
                    )
                if path == "VERSION" and member.isfile():
                    fh = tar.extractfile(member)
                    raw = fh.read(256) if fh is not None else b""
                    version = raw.decode("utf-8", "replace").strip()
    except (EOFError, zlib.error, tarfile.TarError, OSError) as exc:
        raise ConfigError(
            f"update package {name} is not a readable .tar.gz ({exc})", code=FAILED
        ) from exc
    if not version:
        raise ConfigError(
            f"update package {name} has no VERSION file at its top level", code=FAILED
        )
    return version
