"""Secrets: argon2 password hashes, per-terminal bearer credentials, HS256 user tokens.

A terminal credential is ``<terminal_id>.<secret>`` with a 256-bit random secret; the fleet keeps
only its sha256 (a fast hash is safe for high-entropy secrets and keeps ingest cheap).

>>> cred = new_terminal_credential("T0001")
>>> cred.terminal_id, verify_terminal_secret(cred.token, cred.hash)
('T0001', True)
>>> split_terminal_token("garbage") is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from posguard.common.errors import PosguardError

_HASHER = [PasswordHasher()]  # argon2id with the library's (RFC 9106 low-memory) defaults


def use_password_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Swap the argon2 parameters (tests use cheap ones); returns the previous hasher."""
    previous, _HASHER[0] = _HASHER[0], hasher
    return previous


def hash_password(password: str) -> str:
    return _HASHER[0].hash(password)


_DUMMY: dict[int, str] = {}


def dummy_password_hash() -> str:
    """A hash of a random password under the current parameters: verified in place of a user
    that does not exist, so that answer takes as long as a wrong password."""
    hasher = _HASHER[0]
    if id(hasher) not in _DUMMY:
        _DUMMY.clear()
        _DUMMY[id(hasher)] = hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY[id(hasher)]


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _HASHER[0].verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class TerminalCredential:
    terminal_id: str
    token: str  # shown once, given to the terminal
    hash: str  # stored


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_terminal_credential(terminal_id: str) -> TerminalCredential:
    token = f"{terminal_id}.{secrets.token_urlsafe(32)}"
    return TerminalCredential(terminal_id=terminal_id, token=token, hash=_sha256(token))


def split_terminal_token(token: str) -> str | None:
    """The terminal id a bearer token claims, or None when it is not shaped like one."""
    tid, sep, secret = token.rpartition(".")
    if not sep or not tid or len(secret) < 16 or len(token) > 200:
        return None
    return tid


def verify_terminal_secret(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(_sha256(token), stored_hash)


class TokenError(PosguardError):
    """A user token is missing, malformed, expired or badly signed."""


def issue_token(
    *,
    subject: str,
    role: str,
    secret: str,
    ttl_s: int,
    now: datetime | None = None,
    kid: str | None = None,
) -> str:
    """An HS256 token; ``kid`` names the signing key in the header (see ``fleet.jwt_keys``)."""
    now = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "role": role,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_s)).timestamp()),
    }
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers)


def read_token(
    token: str, *, secret: str | None = None, keys: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The claims of a valid token. With ``keys`` (kid -> secret) a token naming a key id is
    checked with that key only (an unknown id is refused); one without an id with each key."""
    if keys is None:
        if secret is None:
            raise TokenError("no key to verify the token with")
        keys = {"": secret}
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from exc
    if kid is not None and secret is None:
        if not isinstance(kid, str) or kid not in keys:
            raise TokenError("token signed with an unknown key id")
        candidates = [keys[kid]]
    else:
        candidates = list(keys.values())
    error: jwt.PyJWTError | None = None
    for candidate in candidates:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, candidate, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.InvalidSignatureError as exc:
            error = exc
            continue
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from exc
        return claims
    raise TokenError(str(error) if error else "no key")
