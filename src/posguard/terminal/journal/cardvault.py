"""Card data at rest: the PAN and expiry a reversal or batch upload needs, sealed with AES-GCM.

The key is derived from the terminal master key (HKDF-SHA256), so the journal file alone
never reveals a card number.

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
    def __init__(self, master_key: bytes, terminal_id: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"posguard journal card data"
        ).derive(master_key + terminal_id.encode())
        self._aead = AESGCM(key)
        self._aad = terminal_id.encode()

    def seal(self, pan: str, expiry: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, f"{pan}={expiry}".encode(), self._aad)

    def open(self, blob: bytes) -> tuple[str, str]:
        try:
            clear = self._aead.decrypt(blob[:12], blob[12:], self._aad).decode()
        except (InvalidTag, ValueError) as exc:
            raise ConfigError(
                "journal card data cannot be decrypted: wrong terminal master key or terminal id"
            ) from exc
        pan, _, expiry = clear.partition("=")
        return pan, expiry
