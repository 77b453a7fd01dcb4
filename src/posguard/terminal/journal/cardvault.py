"""Card data at rest: the PAN and expiry a reversal or batch upload needs, sealed with AES-GCM.

The key is derived (HKDF-SHA256) from the journal's own vault key, not from the terminal
master key (see :mod:`posguard.terminal.keystore`), so the journal file alone never reveals a
card number. ``legacy`` keys (a journal written before the vault key existed, sealed under
the TMK) can still be opened; new data is always sealed under the vault key.

>>> v = CardVault(b"k" * 16, "T0000001")
>>> blob = v.seal("6212345678901232", "3012")
>>> b"6212345678901232" in blob
False
>>> v.open(blob)
('6212345678901232', '3012')
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from posguard.common.errors import ConfigError


class CardVault:
    def __init__(self, master_key: bytes, terminal_id: str, legacy: tuple[bytes, ...] = ()) -> None:
        self._aeads = [AESGCM(_derive(k, terminal_id)) for k in (master_key, *legacy)]
        self._aead = self._aeads[0]
        self._aad = terminal_id.encode()

    def seal(self, pan: str, expiry: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, f"{pan}={expiry}".encode(), self._aad)

    def open(self, blob: bytes) -> tuple[str, str]:
        for aead in self._aeads:
            try:
                clear = aead.decrypt(blob[:12], blob[12:], self._aad).decode()
                break
            except (InvalidTag, ValueError):
                continue
        else:
            raise ConfigError(
                "journal card data cannot be decrypted: wrong vault key or terminal id"
            )
        pan, _, expiry = clear.partition("=")
        return pan, expiry


def _derive(key: bytes, terminal_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"posguard journal card data"
    ).derive(key + terminal_id.encode())
