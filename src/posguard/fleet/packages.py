"""Firmware packages for software rollouts: an admin uploads the ``.tar.gz`` that
``posguard terminal update apply`` takes; it is checked (a readable gzip tar with a top-level
``VERSION``, the same format check the terminal's updater uses, from ``common``), stored under
``package_dir`` by its SHA-256, and recorded with its version, size and target models. The
``update`` command names it by SHA-256 and carries its Ed25519 signature (uploaded with it,
``common.package_signature``; checked at upload against the fleet's ``package_public_keys``
when it has any); terminals download it with their own credential and verify the signature
against the keys their own config trusts before installing.

Storing is write-to-temporary, check, rename: a refused or interrupted upload leaves no file
and no row (nothing half-written).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.common.errors import ConfigError
from posguard.common.package_signature import parse_signature, verify_digest
from posguard.common.update_package import read_archive_version
from posguard.fleet.db.models import FirmwarePackage

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


class PackageRefusedError(ValueError):
    """The upload is not a package this fleet will offer (the message says why)."""

    def __init__(self, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    version: str
    models: Sequence[str]
    signature: str | None = None  # base64 Ed25519 (the ``.sig`` file's text)


def path_of(package_dir: Path, sha256: str) -> Path:
    if not SHA256_RE.match(sha256):
        raise PackageRefusedError(f"sha256 {sha256[:70]!r} is not 64 lowercase hex digits")
    return package_dir / f"{sha256}.tar.gz"


def _clean_models(models: Iterable[str]) -> list[str]:
    out = sorted({m.strip() for raw in models for m in raw.split(",") if m.strip()})
    if not out:
        raise PackageRefusedError("models: name at least one terminal model the package is for")
    for m in out:
        if not MODEL_RE.match(m):
            raise PackageRefusedError(f"models: {m[:70]!r} is not a model name")
    return out


def store(
    session: Session,
    stream: BinaryIO,
    upload: Upload,
    *,
    package_dir: Path,
    max_bytes: int,
    username: str,
    now: datetime,
    trusted_keys: Sequence[str] = (),
) -> FirmwarePackage:
    """Check and store one upload; returns its row (the existing one if already stored; a
    signature given with a package stored unsigned is added to it)."""
    models = _clean_models(upload.models)
    signature = (upload.signature or "").strip() or None
    if signature is not None:
        try:
            parse_signature(signature)
        except ConfigError as exc:
            raise PackageRefusedError(f"signature: {exc.message}") from None
    elif trusted_keys:
        raise PackageRefusedError("signature: this fleet takes signed packages only")
    version = upload.version.strip()
    if not version or len(version) > 64:
        raise PackageRefusedError("version: 1 to 64 characters")
    if not upload.filename.endswith((".tar.gz", ".tgz")):
        raise PackageRefusedError(f"file {upload.filename[:80]!r}: a package is a .tar.gz")
    package_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=".tar.gz", dir=package_dir)
    tmp = Path(tmp_name)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    raise PackageRefusedError(
                        f"file {upload.filename[:80]!r} is larger than {max_bytes} bytes",
                        status=413,
                    )
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        try:
            found = read_archive_version(tmp)
        except ConfigError as exc:
            raise PackageRefusedError(
                exc.message.replace(tmp.name, repr(upload.filename[:80]))
            ) from None
        if found != version:
            raise PackageRefusedError(
                f"version: the form says {version!r}, the package's VERSION file says {found!r}"
            )
        sha = digest.hexdigest()
        if trusted_keys:
            try:
                verify_digest(sha, signature, trusted_keys)
            except ConfigError as exc:
                raise PackageRefusedError(f"signature: {exc.message}") from None
        existing = session.get(FirmwarePackage, sha)
        if existing is not None:
            if signature is not None and existing.signature != signature:
                existing.signature = signature
                session.flush()
            return existing
        os.replace(tmp, path_of(package_dir, sha))
        row = FirmwarePackage(
            sha256=sha,
            version=version,
            size=size,
            models=models,
            filename=Path(upload.filename).name[:255],
            uploaded_by=username,
            uploaded_at=now,
            signature=signature,
        )
        session.add(row)
        session.flush()
        return row
    finally:
        tmp.unlink(missing_ok=True)


def update_args(package: FirmwarePackage) -> dict[str, str | int]:
    """The ``update`` command's arguments for ``package`` (its signature when it has one)."""
    args: dict[str, str | int] = {
        "version": package.version,
        "sha256": package.sha256,
        "size": package.size,
    }
    if package.signature:
        args["signature"] = package.signature
    return args


def listed(session: Session) -> Sequence[FirmwarePackage]:
    return session.scalars(
        select(FirmwarePackage).order_by(FirmwarePackage.uploaded_at.desc())
    ).all()


def for_model(session: Session, model: str) -> Sequence[FirmwarePackage]:
    return [p for p in listed(session) if model in p.models]
