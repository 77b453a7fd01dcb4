"""DingTalk (钉钉) custom group robot: markdown message, "加签" signature.

Signature (DingTalk custom robot security settings): ``timestamp`` in milliseconds,
``sign = urlencode(base64(HmacSHA256(key=secret, msg=f"{timestamp}\\n{secret}")))``, both
added to the webhook's query next to ``access_token``. Body:
``{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {"atMobiles", "isAtAll"}}``;
the answer is ``{"errcode": 0, "errmsg": "ok"}``. A robot takes 20 messages a minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus

from posguard.fleet.clock import Clock
from posguard.fleet.notify.channels.base import HttpRequest, SendResult, json_body, post
from posguard.fleet.notify.config import DingTalkChannel
from posguard.fleet.notify.message import Message, markdown


def sign(timestamp_ms: int, secret: str) -> str:
    """The base64 signature (not yet URL-encoded)."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def build_request(
    ch: DingTalkChannel, msg: Message, *, token: str, secret: str, timestamp_ms: int
) -> HttpRequest:
    text = markdown(msg)
    if ch.at_mobiles:  # DingTalk only rings someone named in the text too
        text += "\n" + " ".join(f"@{m}" for m in ch.at_mobiles) + "\n"
    payload = {
        "msgtype": "markdown",
        "markdown": {"title": msg.title, "text": text},
        "at": {"atMobiles": list(ch.at_mobiles), "isAtAll": False},
    }
    url = (
        f"{ch.url}?access_token={quote_plus(token)}&timestamp={timestamp_ms}"
        f"&sign={quote_plus(sign(timestamp_ms, secret))}"
    )
    return HttpRequest(url, {"Content-Type": "application/json; charset=utf-8"}, json_body(payload))


class DingTalkSender:
    def __init__(self, channel: DingTalkChannel, clock: Clock) -> None:
        self.channel = channel
        self.clock = clock

    async def send(self, msg: Message, *, recipient: str) -> SendResult:
        token, secret = self.channel.token.resolve(), self.channel.secret.resolve()
        ts = int(self.clock.now().timestamp() * 1000)
        req = build_request(self.channel, msg, token=token, secret=secret, timestamp_ms=ts)
        return await post(
            req, timeout_s=self.channel.timeout_s, secrets=[token, secret], vendor_codes=True
        )
