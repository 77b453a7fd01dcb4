"""A test message through one channel, recorded in the delivery log (transition ``test:…``,
no incident), so an operator sees that a channel works before an incident needs it."""

from __future__ import annotations

import secrets as _random
from datetime import datetime

from posguard.common.errors import ConfigError
from posguard.fleet.notify import outbox
from posguard.fleet.notify.channels.base import SendResult, SendStatus
from posguard.fleet.notify.delivery import Notifier
from posguard.fleet.notify.message import Item, Message
from posguard.fleet.notify.outbox import RowStatus

_TITLE = {
    "zh": "posguard 测试消息:通知渠道 {c} 工作正常",
    "en": "posguard test message: channel {c} works",
}


def build_test_message(channel: str, *, lang: str, public_url: str, now: datetime) -> Message:
    key = _random.token_hex(16)
    title = _TITLE[lang].format(c=channel)
    item = Item(
        incident_id=0,
        title=title,
        severity="info",
        code="TEST",
        scope=channel,
        opened_at=now.strftime("%Y-%m-%d %H:%M UTC"),
        opened_iso=now.isoformat(),
        steps=(),
        link=f"{public_url.rstrip('/')}/ui/",
        by=None,
    )
    return Message(
        key=key,
        transition="test",
        lang=lang,
        audience="ops",
        title=title,
        severity="info",
        items=(item,),
        more=0,
        thread=f"test-{key[:12]}",
    )


async def send_test(
    notifier: Notifier, channel: str, *, recipient: str = "", lang: str = "zh"
) -> SendResult:
    """Send a test message now (not through the queue) and log the outcome."""
    if channel not in notifier.config.channels:
        raise ConfigError(
            f"unknown channel {channel!r}; configured: {sorted(notifier.config.channels)}"
        )
    is_mail = notifier.config.channels[channel].type == "email"
    if is_mail and not recipient:
        raise ConfigError(f"channel {channel!r} is e-mail: give a recipient address")
    now = notifier.clock.now()
    msg = build_test_message(
        channel,
        lang=lang,
        public_url=notifier.config.public_url,
        now=now,
    )
    try:
        result = await notifier.senders[channel].send(msg, recipient=recipient)
    except ConfigError as exc:
        result = SendResult(SendStatus.FAILED, str(exc)[:200])
    row = outbox.new_row(
        incident_id=None,
        transition=f"test:{msg.key[:12]}",
        route_id="(test)",
        channel=channel,
        recipient=recipient,
        lang=lang,
        audience="ops",
        now=now,
        not_before=now,
    )
    sent = result.status is SendStatus.SENT
    row.update(
        status=(RowStatus.SENT if sent else RowStatus.FAILED).value,
        attempts=1,
        sent_at=now if sent else None,
        message_key=msg.key if sent else None,
        last_error=None if sent else result.detail,
    )
    with notifier.sessions.begin() as s:
        outbox.enqueue(s, [row])
    return result
