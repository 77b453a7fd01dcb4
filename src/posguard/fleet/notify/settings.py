"""Where the notification configuration is (``POSGUARD_NOTIFY_*``); no file, no notifications.

>>> NotifySettings(config=None).poll_s
2.0
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSGUARD_NOTIFY_", extra="ignore")

    # the channels/routes YAML (docs/notifications.md); None: notifications are off
    config: Path | None = None
    poll_s: float = Field(2.0, gt=0, le=300)
    # a stable name per worker shows in the delivery log; default host:pid
    worker_id: str | None = Field(None, max_length=64)


@cache
def get_notify_settings() -> NotifySettings:
    return NotifySettings()
