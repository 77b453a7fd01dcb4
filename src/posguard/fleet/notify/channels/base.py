"""What every channel answers: sent, retry later, or failed for good; and the HTTP helper
the robots and the webhook share (errors translated here, never with a URL or a secret)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import httpx

from posguard.fleet.notify.message import Message
from posguard.fleet.notify.secrets import redact


def redact_url(url: str) -> str:
    """A URL fit for a log: no query (DingTalk's access_token, WeCom's key), no hook id
    (Feishu keeps its token in the path).

    >>> redact_url("https://oapi.dingtalk.com/robot/send?access_token=abc&sign=x")
    'https://oapi.dingtalk.com/robot/send?***'
    >>> redact_url("https://open.feishu.cn/open-apis/bot/v2/hook/5e3d-87")
    'https://open.feishu.cn/open-apis/bot/v2/hook/***'
    """
    url = re.sub(r"\?.*$", "?***", url)
    return re.sub(r"(/hook/)[^/?]+", r"\1***", url)


class _RedactHttpxUrls(logging.Filter):
    """httpx logs every request's full URL at INFO; robots keep their credential in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactHttpxUrls())


class SendStatus(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # transient: the outbox tries again with backoff
    FAILED = "failed"  # permanent: wrong secret, refused recipient; retrying cannot help


@dataclass(frozen=True, slots=True)
class SendResult:
    status: SendStatus
    detail: str = ""  # secret-free, short; stored as the row's last_error


class Sender(Protocol):
    async def send(self, msg: Message, *, recipient: str) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class HttpRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def json_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _vendor_error(data: Any) -> tuple[int, str] | None:
    """DingTalk/WeCom answer {"errcode": 0}, Feishu {"code": 0} (older: {"StatusCode": 0})."""
    if not isinstance(data, dict):
        return None
    for key, msg_key in (("errcode", "errmsg"), ("code", "msg"), ("StatusCode", "StatusMessage")):
        if key in data:
            code = data[key]
            if code in (0, "0"):
                return None
            return int(code) if str(code).lstrip("-").isdigit() else -1, str(data.get(msg_key, ""))
    return None


async def post(
    request: HttpRequest, *, timeout_s: float, secrets: Sequence[str], vendor_codes: bool
) -> SendResult:
    """POST and classify: 2xx (and vendor code 0) sent; 408/429/5xx, I/O errors and vendor
    errors retry; other 4xx fail. Details never carry the URL (robots keep tokens in it)."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            resp = await client.post(request.url, content=request.body, headers=request.headers)
    except httpx.TimeoutException:
        return SendResult(SendStatus.RETRY, "timeout")
    except httpx.HTTPError as exc:
        return SendResult(SendStatus.RETRY, f"transport error: {type(exc).__name__}")
    if resp.status_code in (408, 429) or resp.status_code >= 500:
        return SendResult(SendStatus.RETRY, f"HTTP {resp.status_code}")
    if resp.status_code >= 300:
        return SendResult(SendStatus.FAILED, f"HTTP {resp.status_code}")
    if vendor_codes:
        try:
            data = resp.json()
        except ValueError:
            return SendResult(SendStatus.RETRY, "answer is not JSON")
        err = _vendor_error(data)
        if err is not None:
            code, text = err
            detail = redact(f"vendor error {code}: {text}"[:200], secrets)
            return SendResult(SendStatus.RETRY, detail)
    return SendResult(SendStatus.SENT, f"HTTP {resp.status_code}")
