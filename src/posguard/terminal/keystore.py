"""Where the terminal's secret keys come from: a key file readable by its owner only, or an
environment variable; the configuration names which (never the key itself, except in labs).

- the terminal master key (TMK): unwraps the working keys of each sign-on;
- the journal's card-vault key: seals the PAN and expiry a reversal or batch upload needs. It
  is its own key, not derived from the TMK; by default a random 32-byte key kept in an
  owner-only file beside the journal (created on first use), so the journal file alone never
  reveals a card number and a TMK change does not lock the journal.

A file holds the key in hex (whitespace ignored). A key file that the group or others can
read, or a missing variable, is a :class:`ConfigError` naming it.

>>> import os, tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "tmk.key"
>>> _ = p.write_text("00112233445566778899AABBCCDDEEFF\\n"); os.chmod(p, 0o600)
>>> KeySource(file=p).read("TMK", 16).hex()
'00112233445566778899aabbccddeeff'
>>> os.chmod(p, 0o644)
>>> KeySource(file=p).read("TMK", 16)
Traceback (most recent call last):
...
posguard.common.errors.ConfigError: TMK key file ... is readable by group or others (mode 644); ...
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

from posguard.common.errors import ConfigError


class KeySource(BaseModel):
    """Exactly one of ``file`` (owner-only, hex) or ``env`` (variable name, hex)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: Path | None = None
    env: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.file is None) == (self.env is None):
            raise ValueError("name exactly one of 'file' or 'env'")
        return self

    def read(self, what: str, length: int) -> bytes:
        """The key, ``length`` bytes; ConfigError naming the source when it is unusable."""
        if self.env is not None:
            text = os.environ.get(self.env)
            if text is None:
                raise ConfigError(f"{what}: environment variable {self.env} is not set")
            where = f"environment variable {self.env}"
        else:
            assert self.file is not None
            text, where = _read_owner_only(self.file, what), f"key file {self.file}"
        try:
            key = bytes.fromhex("".join(text.split()))
        except ValueError:
            raise ConfigError(f"{what}: {where} does not hold hex digits") from None
        if len(key) != length:
            raise ConfigError(f"{what}: {where} holds {len(key)} bytes, expected {length}")
        return key


def _read_owner_only(path: Path, what: str) -> str:
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError(f"{what} key file {path} cannot be read: {exc.strerror}") from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        mode = stat.S_IMODE(st.st_mode)
        raise ConfigError(
            f"{what} key file {path} is readable by group or others (mode {mode:o}); chmod 600 it"
        )
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} key file {path} cannot be read: {exc}") from exc


def vault_key(source: KeySource | None, journal_path: Path) -> bytes:
    """The journal's card-vault key: from ``source``, else from ``<journal>.vault.key``,
    created owner-only with 32 random bytes on first use."""
    if source is not None:
        return source.read("journal vault key", 32)
    path = journal_path.with_name(journal_path.name + ".vault.key")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(os.urandom(32).hex() + "\n")
                f.flush()
                os.fsync(f.fileno())
    return KeySource(file=path).read("journal vault key", 32)
