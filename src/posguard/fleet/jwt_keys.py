"""The keys user tokens and web sessions are signed and verified with: one signing key, any
number of verification keys, each with a key id (``kid``), so a secret can be rotated without
logging anybody out.

Rotation (every API worker gets the same settings at each step):

1. add the new key to ``POSGUARD_FLEET_JWT_KEYS`` next to the old one, still signing with the
   old (``POSGUARD_FLEET_JWT_SIGNING_KEY_ID``); restart the workers one by one;
2. sign with the new key id; restart again: tokens signed with the old key still verify;
3. after the token lifetime (``token_ttl_s``; 8 h for web sessions), drop the old key.

>>> keys = JwtKeys.build({"a": "s" * 32, "b": "t" * 32}, signing_kid="b")
>>> keys.signing_kid, keys.signing_secret == "t" * 32, [k for k, _ in keys.verification()]
('b', True, ['b', 'a'])
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from posguard.common.errors import ConfigError
from posguard.fleet.config import FleetSettings

PRIMARY_KID = "primary"
"""The key id of ``POSGUARD_FLEET_JWT_SECRET`` (when it is not also named in the key set)."""
MIN_SECRET_LEN = 32


@dataclass(frozen=True, slots=True)
class JwtKeys:
    signing_kid: str
    keys: Mapping[str, str]  # kid -> secret; holds the signing key
    configured: bool  # False: a random per-process key (development only)

    @property
    def signing_secret(self) -> str:
        return self.keys[self.signing_kid]

    def verification(self) -> list[tuple[str, str]]:
        """(kid, secret) pairs, the signing key first."""
        rest = [(k, v) for k, v in self.keys.items() if k != self.signing_kid]
        return [(self.signing_kid, self.signing_secret), *rest]

    @classmethod
    def build(cls, keys: Mapping[str, str], *, signing_kid: str | None = None) -> JwtKeys:
        if not keys:
            raise ConfigError("JWT: no key configured")
        for kid, secret in keys.items():
            if not kid or len(kid) > 64:
                raise ConfigError(f"JWT: key id {kid!r} must be 1-64 characters")
            if not secret:
                raise ConfigError(f"JWT: key {kid!r} is empty")
        if signing_kid is None:
            if len(keys) > 1:
                raise ConfigError(
                    "JWT: several keys configured; name the signing one with "
                    "POSGUARD_FLEET_JWT_SIGNING_KEY_ID"
                )
            signing_kid = next(iter(keys))
        if signing_kid not in keys:
            raise ConfigError(
                f"JWT: signing key id {signing_kid!r} is not among the keys "
                f"({', '.join(sorted(keys))})"
            )
        return cls(signing_kid, dict(keys), configured=True)

    @classmethod
    def from_settings(cls, settings: FleetSettings) -> JwtKeys:
        """The configured keys, or a random per-process one when none is configured."""
        keys = {kid: s.get_secret_value() for kid, s in settings.jwt_keys.items()}
        for kid, secret in keys.items():
            if len(secret) < MIN_SECRET_LEN:
                raise ConfigError(
                    f"POSGUARD_FLEET_JWT_KEYS: key {kid!r} has {len(secret)} characters, at "
                    f"least {MIN_SECRET_LEN} are needed"
                )
        signing = settings.jwt_signing_key_id
        if settings.jwt_secret is not None:
            secret = settings.jwt_secret.get_secret_value()
            if secret not in keys.values():
                keys[PRIMARY_KID] = secret
            if signing is None:
                signing = next(k for k, v in keys.items() if v == secret)
        if not keys:
            return cls(PRIMARY_KID, {PRIMARY_KID: secrets.token_urlsafe(32)}, configured=False)
        return cls.build(keys, signing_kid=signing)

    @classmethod
    def single(cls, secret: str) -> JwtKeys:
        """One key (tests, the embedded fleet): no length check."""
        return cls(PRIMARY_KID, {PRIMARY_KID: secret}, configured=True)
