"""The sender for a configured channel, by its ``type``."""

from __future__ import annotations

from posguard.fleet.clock import Clock
from posguard.fleet.notify.channels.base import Sender
from posguard.fleet.notify.channels.dingtalk import DingTalkSender
from posguard.fleet.notify.channels.email import EmailSender
from posguard.fleet.notify.channels.feishu import FeishuSender
from posguard.fleet.notify.channels.webhook import WebhookSender
from posguard.fleet.notify.channels.wecom import WeComSender
from posguard.fleet.notify.config import (
    Channel,
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    WebhookChannel,
)


def make_sender(channel: Channel, clock: Clock) -> Sender:
    if isinstance(channel, EmailChannel):
        return EmailSender(channel, clock)
    if isinstance(channel, WebhookChannel):
        return WebhookSender(channel, clock)
    if isinstance(channel, DingTalkChannel):
        return DingTalkSender(channel, clock)
    if isinstance(channel, FeishuChannel):
        return FeishuSender(channel, clock)
    return WeComSender(channel)


def secret_refs(channel: Channel) -> dict[str, object]:
    """Field name -> secret reference, for listing (never the values)."""
    out: dict[str, object] = {}
    for name in ("password", "secret", "token", "key"):
        ref = getattr(channel, name, None)
        if ref is not None:
            out[name] = ref
    return out
