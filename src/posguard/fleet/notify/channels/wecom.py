"""WeCom (企业微信) group robot: markdown message.

The robot's webhook is ``.../cgi-bin/webhook/send?key=KEY`` (the key is the only credential:
WeCom robots have no signature); body ``{"msgtype": "markdown", "markdown": {"content"}}``,
content at most 4096 bytes of UTF-8; the answer is ``{"errcode": 0, "errmsg": "ok"}``.
A robot takes 20 messages a minute.
"""

from __future__ import annotations

from urllib.parse import quote_plus

from posguard.fleet.notify.channels.base import HttpRequest, SendResult, json_body, post
from posguard.fleet.notify.config import WeComChannel
from posguard.fleet.notify.message import Message, markdown

MAX_BYTES = 4096


def clip_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8 without splitting a character.

    >>> clip_utf8("终端缺纸", 7)
    '终端'
    """
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def build_request(ch: WeComChannel, msg: Message, *, key: str) -> HttpRequest:
    content = clip_utf8(markdown(msg), MAX_BYTES)
    payload = {"msgtype": "markdown", "markdown": {"content": content}}
    url = f"{ch.url}?key={quote_plus(key)}"
    return HttpRequest(url, {"Content-Type": "application/json; charset=utf-8"}, json_body(payload))


class WeComSender:
    def __init__(self, channel: WeComChannel) -> None:
        self.channel = channel

    async def send(self, msg: Message, *, recipient: str) -> SendResult:
        key = self.channel.key.resolve()
        req = build_request(self.channel, msg, key=key)
        return await post(req, timeout_s=self.channel.timeout_s, secrets=[key], vendor_codes=True)
