"""Card numbers as the issuer tables keep them: a keyed hash (HMAC-SHA256) and the last four
digits, never the clear PAN (PCI DSS 3.5.1: a keyed cryptographic hash of the entire PAN).

The key lives outside the database, in ``<ledger>.pankey`` (created on first use, mode 0600),
so a copy of the ledger alone does not let anyone test guessed card numbers against it. A
throw-away ``":memory:"`` ledger gets a random key for its lifetime.

>>> refs = PanRefs(bytes(32))
>>> refs.ref("6214830000000000015") == refs.ref("6214830000000000015")
True
>>> refs.ref("6214830000000000015") == PanRefs(bytes([1] * 32)).ref("6214830000000000015")
False
>>> len(refs.ref("6214830000000000015"))
32
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from posguard.common.errors import ConfigError

__all__ = ["KEY_BYTES", "PanRefs", "key_path", "load_or_create_key"]

KEY_BYTES = 32
_BLOCK = 64  # SHA-256 block size


class PanRefs:
    """The keyed hash of a PAN (32 bytes, HMAC-SHA256 as RFC 2104), the only form in which the
    ledger stores one. The inner and outer hash states are keyed once and copied per PAN: with
    OpenSSL 3 a fresh ``hmac.digest`` per call costs several times more (an algorithm fetch
    per call), and this runs on every card transaction.

    >>> import hmac
    >>> PanRefs(bytes(32)).ref("4111") == hmac.digest(bytes(32), b"4111", "sha256")
    True
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ConfigError("the PAN hash key must be at least 16 bytes")
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def ref(self, pan: str) -> bytes:
        inner = self._inner.copy()
        inner.update(pan.encode("ascii", "replace"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def __repr__(self) -> str:  # never show the key
        return "PanRefs(<key>)"


def key_path(ledger_path: str) -> Path:
    return Path(ledger_path + ".pankey")


def load_or_create_key(ledger_path: str) -> bytes:
    """The key for the ledger at ``ledger_path`` (random, and not kept, for ``":memory:"``)."""
    if ledger_path == ":memory:" or ledger_path.startswith("file::memory:"):
        return secrets.token_bytes(KEY_BYTES)
    path = key_path(ledger_path)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        key = secrets.token_bytes(KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return load_or_create_key(ledger_path)
        except OSError as exc:
            raise ConfigError(f"cannot create the PAN hash key: {exc}", path=str(path)) from exc
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key.hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        return key
    except OSError as exc:
        raise ConfigError(f"cannot read the PAN hash key: {exc}", path=str(path)) from exc
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigError("the PAN hash key file is not hex", path=str(path)) from None
    if len(key) < 16:
        raise ConfigError("the PAN hash key file holds fewer than 16 bytes", path=str(path))
    return key
