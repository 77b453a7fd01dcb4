"""Personal data at rest: masked for display, sealed (AES-GCM) when it must be kept.

ID numbers, bank accounts and names never leave this package in clear: reports carry
the masked form, and a store that must keep the value keeps the sealed token. The key
comes from settings (``POSGUARD_MERCHANT_DATA_KEY``, 32 bytes, base64), never from code.

>>> mask_id_number("11010519491231002X")
'110105********002X'
>>> mask_account("6222021234567890123")
'***************0123'
>>> mask_name("张三丰")
'张**'
>>> s = Sealer(bytes(32))
>>> s.open(s.seal("11010519491231002X", purpose="legal_person_id"), purpose="legal_person_id")
'11010519491231002X'
"""

from __future__ import annotations

import base64
import binascii
import os
from functools import cache
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from posguard.common.errors import ConfigError, PosguardError

TOKEN_PREFIX: Final = "pgm1:"  # noqa: S105 - a format marker, not a secret
_NONCE_LEN: Final = 12


class MerchantSettings(BaseSettings):
    """Settings of the merchant package; ``data_key`` is base64 of a 32-byte AES key."""

    model_config = SettingsConfigDict(env_prefix="POSGUARD_MERCHANT_", extra="ignore")

    data_key: SecretStr | None = Field(default=None)


@cache
def get_settings() -> MerchantSettings:
    return MerchantSettings()


def mask_id_number(number: str) -> str:
    """Keep the region code (6) and the last 4 characters; star the rest (birth date)."""
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_account(account: str) -> str:
    """Keep only the last 4 characters of a bank account number."""
    if len(account) <= 4:
        return "*" * len(account)
    return "*" * (len(account) - 4) + account[-4:]


def mask_name(name: str) -> str:
    """Keep the first character (the surname, for most Chinese names)."""
    return name[:1] + "*" * (len(name) - 1) if name else ""


class SealError(PosguardError):
    """A sealed value could not be opened: wrong key, wrong purpose or tampered token."""


class Sealer:
    """AES-256-GCM over one value; ``purpose`` is bound as associated data, so a token
    sealed as a bank account cannot be replayed as an ID number."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigError("merchant data key must be 32 bytes (AES-256)", length=len(key))
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: MerchantSettings | None = None) -> Sealer:
        settings = settings or get_settings()
        if settings.data_key is None:
            raise ConfigError(
                "no merchant data key: set POSGUARD_MERCHANT_DATA_KEY to base64 of 32 random bytes"
            )
        try:
            key = base64.b64decode(settings.data_key.get_secret_value(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError("POSGUARD_MERCHANT_DATA_KEY is not valid base64") from exc
        return cls(key)

    def seal(self, value: str, *, purpose: str) -> str:
        nonce = os.urandom(_NONCE_LEN)
        blob = self._aead.encrypt(nonce, value.encode("utf-8"), purpose.encode("utf-8"))
        return TOKEN_PREFIX + base64.urlsafe_b64encode(nonce + blob).decode("ascii")

    def open(self, token: str, *, purpose: str) -> str:
        if not token.startswith(TOKEN_PREFIX):
            raise SealError("not a sealed merchant value", purpose=purpose)
        try:
            raw = base64.urlsafe_b64decode(token[len(TOKEN_PREFIX) :].encode("ascii"))
            plain = self._aead.decrypt(raw[:_NONCE_LEN], raw[_NONCE_LEN:], purpose.encode())
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise SealError(
                "sealed value cannot be opened (key, purpose or data wrong)", purpose=purpose
            ) from exc
        return plain.decode("utf-8")
