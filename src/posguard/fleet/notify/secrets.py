"""Secrets of notification channels: named in the configuration, read from the environment
or a file when a message is sent, never stored in the database, never logged.

A secret field is ``{env: NAME}`` or ``{file: PATH}``; an inline value is refused.

>>> import os
>>> os.environ["PG_DOCTEST_SECRET"] = "s3cr3t"
>>> ref = SecretRef(env="PG_DOCTEST_SECRET")
>>> ref.resolve(), str(ref)
('s3cr3t', 'env:PG_DOCTEST_SECRET')
>>> redact("token s3cr3t refused", ["s3cr3t"])
'token *** refused'
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from posguard.common.errors import ConfigError


class SecretUnavailableError(ConfigError):
    """A secret named by the configuration cannot be read (variable unset, file missing)."""


_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SecretRef(BaseModel):
    """Where a secret lives: an environment variable or a file (its content, stripped)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: str | None = Field(None, pattern=_ENV_NAME, max_length=128)
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret is {env: NAME} or {file: PATH}, exactly one")
        return self

    def __str__(self) -> str:
        return f"env:{self.env}" if self.env is not None else f"file:{self.file}"

    def resolve(self) -> str:
        """The secret's value; :class:`SecretUnavailableError` names where it was looked for."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise SecretUnavailableError(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            value = self.file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretUnavailableError(
                f"secret file {self.file} cannot be read ({type(exc).__name__})"
            ) from exc
        if not value:
            raise SecretUnavailableError(f"secret file {self.file} is empty")
        return value


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value (4 characters or more) replaced by ``***``."""
    for s in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(s, "***")
    return re.sub(r"(access_token|key|sign)=[^&\s]+", r"\1=***", text)
