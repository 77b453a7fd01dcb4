"""Feishu / Lark custom bot: an interactive card (header coloured by severity, lark_md body,
a button to the incident), with the optional "签名校验" signature.

Signature (Feishu custom bot guide): ``timestamp`` in seconds,
``sign = base64(HmacSHA256(key=f"{timestamp}\\n{secret}", msg=b""))``; both go in the JSON
body next to ``msg_type`` and ``card``. The answer is ``{"code": 0, "msg": "success"}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from posguard.fleet.clock import Clock
from posguard.fleet.notify.channels.base import HttpRequest, SendResult, json_body, post
from posguard.fleet.notify.config import FeishuChannel
from posguard.fleet.notify.message import Message, markdown

_COLOUR = {"critical": "red", "major": "orange", "minor": "yellow", "info": "blue"}
_DONE = {"ack": "wathet", "resolve": "green"}


def sign(timestamp_s: int, secret: str) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def card(msg: Message) -> dict[str, Any]:
    body = markdown(msg, heading="").split("\n", 2)[-1]  # the header carries the title
    label = "查看详情" if msg.lang == "zh" else "Open the incident"
    elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md", "content": body}}]
    if len(msg.items) == 1:
        elements.append(
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": label},
                        "type": "primary",
                        "url": msg.items[0].link,
                    }
                ],
            }
        )
    return {
        "config": {"wide_screen_mode": True},
        "header": {
            "title": {"tag": "plain_text", "content": msg.title},
            "template": _DONE.get(msg.kind, _COLOUR.get(msg.severity, "blue")),
        },
        "elements": elements,
    }


def build_request(msg: Message, *, url: str, secret: str | None, timestamp_s: int) -> HttpRequest:
    payload: dict[str, Any] = {"msg_type": "interactive", "card": card(msg)}
    if secret is not None:
        payload = {"timestamp": str(timestamp_s), "sign": sign(timestamp_s, secret), **payload}
    return HttpRequest(url, {"Content-Type": "application/json; charset=utf-8"}, json_body(payload))


class FeishuSender:
    def __init__(self, channel: FeishuChannel, clock: Clock) -> None:
        self.channel = channel
        self.clock = clock

    async def send(self, msg: Message, *, recipient: str) -> SendResult:
        token = self.channel.token.resolve()
        secret = self.channel.secret.resolve() if self.channel.secret else None
        url = f"{self.channel.url.rstrip('/')}/{token}"
        req = build_request(
            msg, url=url, secret=secret, timestamp_s=int(self.clock.now().timestamp())
        )
        secrets = [token] + ([secret] if secret else [])
        return await post(req, timeout_s=self.channel.timeout_s, secrets=secrets, vendor_codes=True)
