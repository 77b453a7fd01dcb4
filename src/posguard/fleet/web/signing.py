"""HMAC-signed, timestamped tokens for cookies and hidden form fields.

The key is derived from the fleet's JWT secret with a purpose label, so a session cookie can
never be replayed as a wizard state and vice versa.

>>> s = Signer("secret", purpose="session")
>>> tok = s.dumps({"u": "ops"}, now=1000)
>>> s.loads(tok, max_age_s=60, now=1030)
{'u': 'ops'}
>>> s.loads(tok, max_age_s=60, now=2000) is None
True
>>> Signer("secret", purpose="wizard").loads(tok, max_age_s=60, now=1030) is None
True

Rotation: given several secrets, the first signs and each verifies.

>>> Signer(["new", "secret"], purpose="session").loads(tok, max_age_s=60, now=1030)
{'u': 'ops'}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """``dumps`` a JSON object to ``payload.issued.mac``; ``loads`` returns it or None."""

    def __init__(self, secret: str | Sequence[str], *, purpose: str) -> None:
        secrets = [secret] if isinstance(secret, str) else list(secret)
        label = f"posguard.web.{purpose}".encode()
        self._keys = [hmac.new(s.encode(), label, "sha256").digest() for s in secrets]
        self._key = self._keys[0]

    def _mac(self, body: str, key: bytes | None = None) -> str:
        mac = hmac.new(key or self._key, body.encode("ascii"), hashlib.sha256).digest()
        return _b64(mac)

    def dumps(self, obj: dict[str, Any], *, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        body = f"{_b64(json.dumps(obj, separators=(',', ':')).encode())}.{issued}"
        return f"{body}.{self._mac(body)}"

    def loads(
        self, token: str | None, *, max_age_s: float, now: float | None = None
    ) -> dict[str, Any] | None:
        """The signed object, or None when missing, tampered with, malformed or too old."""
        if not token or len(token) > 64_000:
            return None
        body, sep, mac = token.rpartition(".")
        if not sep or not any(hmac.compare_digest(mac, self._mac(body, k)) for k in self._keys):
            return None
        payload, _, issued = body.partition(".")
        try:
            age = (time.time() if now is None else now) - int(issued)
            obj = json.loads(_unb64(payload))
        except (ValueError, json.JSONDecodeError):
            return None
        if age > max_age_s or age < -300 or not isinstance(obj, dict):
            return None
        return obj
