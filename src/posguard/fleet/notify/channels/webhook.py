"""The generic webhook: a JSON body (schema ``posguard.notification/v1``, documented in
docs/notifications.md) signed with HMAC-SHA256.

Headers: ``X-Posguard-Timestamp`` (UNIX seconds), ``X-Posguard-Signature:
sha256=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>`` and
``X-Posguard-Idempotency-Key`` (the same for a retry of the same message: dedupe on it).
A receiver recomputes the signature over the raw body, compares in constant time and refuses
a timestamp more than 5 minutes away from its clock.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from posguard.fleet.clock import Clock
from posguard.fleet.notify.channels.base import HttpRequest, SendResult, json_body, post
from posguard.fleet.notify.config import WebhookChannel
from posguard.fleet.notify.message import Message, markdown

SCHEMA = "posguard.notification/v1"


def signature(secret: str, timestamp_s: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp_s}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def payload(msg: Message) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "key": msg.key,
        "transition": msg.transition,
        "thread": msg.thread,
        "lang": msg.lang,
        "audience": msg.audience,
        "title": msg.title,
        "severity": msg.severity,
        "incidents": [
            {
                "id": it.incident_id,
                "title": it.title,
                "severity": it.severity,
                "code": it.code,
                "scope": it.scope,
                "opened_at": it.opened_iso,
                "steps": list(it.steps),
                "link": it.link,
                "by": it.by,
            }
            for it in msg.items
        ],
        "more": msg.more,
        "text": markdown(msg),
    }


def build_request(
    ch: WebhookChannel, msg: Message, *, secret: str, timestamp_s: int
) -> HttpRequest:
    body = json_body(payload(msg))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Posguard-Timestamp": str(timestamp_s),
        "X-Posguard-Signature": signature(secret, timestamp_s, body),
        "X-Posguard-Idempotency-Key": msg.key,
    }
    return HttpRequest(ch.url, headers, body)


class WebhookSender:
    def __init__(self, channel: WebhookChannel, clock: Clock) -> None:
        self.channel = channel
        self.clock = clock

    async def send(self, msg: Message, *, recipient: str) -> SendResult:
        secret = self.channel.secret.resolve()
        ts = int(self.clock.now().timestamp())
        req = build_request(self.channel, msg, secret=secret, timestamp_s=ts)
        return await post(
            req, timeout_s=self.channel.timeout_s, secrets=[secret], vendor_codes=False
        )
