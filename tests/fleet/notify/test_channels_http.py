"""Each HTTP channel against a local receiver that plays the vendor: the receiver checks the
request as the vendor documents it (signature recomputed here from the published algorithm,
not with our signing code) and answers the way the vendor does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from posguard.fleet.clock import FakeClock
from posguard.fleet.notify.channels.base import SendStatus
from posguard.fleet.notify.channels.dingtalk import DingTalkSender
from posguard.fleet.notify.channels.feishu import FeishuSender
from posguard.fleet.notify.channels.webhook import SCHEMA, WebhookSender
from posguard.fleet.notify.channels.wecom import WeComSender
from posguard.fleet.notify.config import parse_config
from posguard.fleet.notify.message import IncidentFacts, Message, build_message

from .conftest import Received, Receiver

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def _message(catalog: Any, *, lang: str = "zh", transition: str = "open") -> Message:
    facts = IncidentFacts(
        id=42,
        code="PRN.PAPER_OUT",
        severity="minor",
        status="open",
        scope="terminal:T1",
        terminal_id="T1",
        merchant_id="M01",
        opened_at=NOW,
        by=None,
    )
    return build_message(
        [facts],
        transition=transition,
        lang=lang,
        audience="merchant",
        catalog=catalog,
        public_url="https://fleet.example",
        key="k" * 64,
    )


def _channel(spec: dict[str, Any]) -> Any:
    cfg = parse_config({"channels": [spec], "routes": []}, source="t.yaml")
    return cfg.channels[spec["id"]]


async def test_dingtalk_markdown_with_signature(
    receiver: Receiver, catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DingTalk custom robot, security setting "加签": the request carries ``timestamp`` (ms)
    and ``sign = urlencode(base64(HmacSHA256(key=secret, msg=timestamp + "\\n" + secret)))`` in
    the query next to ``access_token``; body ``{"msgtype": "markdown", "markdown": {"title",
    "text"}}``. Source: DingTalk open platform, custom robot security settings (加签) and
    message types; the algorithm as quoted in its Python example (hmac.new(secret_enc,
    string_to_sign_enc, sha256), base64, quote_plus)."""
    secret, token = "SEC0123456789abcdef0123456789abcdef", "dt-access-token-xyz"
    monkeypatch.setenv("PG_DT_SECRET", secret)
    monkeypatch.setenv("PG_DT_TOKEN", token)

    def dingtalk(req: Received) -> tuple[int, dict[str, Any]]:
        q = req.query  # parse_qs has undone the URL encoding
        expect = base64.b64encode(
            hmac.new(
                secret.encode(), f"{q.get('timestamp')}\n{secret}".encode(), hashlib.sha256
            ).digest()
        ).decode()
        if q.get("access_token") != token:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        if q.get("sign") != expect or abs(int(q["timestamp"]) - NOW.timestamp() * 1000) > 3600e3:
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    receiver.verify = dingtalk
    ch = _channel(
        {
            "id": "dt",
            "type": "dingtalk",
            "url": receiver.url + "/robot/send",
            "token": {"env": "PG_DT_TOKEN"},
            "secret": {"env": "PG_DT_SECRET"},
            "at_mobiles": ["13800001111"],
        }
    )
    result = await DingTalkSender(ch, FakeClock(NOW)).send(_message(catalog), recipient="")
    assert result.status is SendStatus.SENT, result.detail
    body = receiver.accepted[0].json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"].startswith("[次要] 新故障")
    text = body["markdown"]["text"]
    assert "终端 T1" in text
    assert "PRN.PAPER_OUT" in text
    assert "处理步骤" in text
    assert "https://fleet.example/ui/incidents/42" in text
    assert "@13800001111" in text
    assert body["at"]["atMobiles"] == ["13800001111"]
    assert receiver.accepted[0].query["timestamp"] == str(int(NOW.timestamp() * 1000))

    # a wrong secret: DingTalk answers errcode 310000 with HTTP 200; we retry, and say so
    # without the secret or the token
    monkeypatch.setenv("PG_DT_SECRET", "SECwrong-wrong-wrong")
    result = await DingTalkSender(ch, FakeClock(NOW)).send(_message(catalog), recipient="")
    assert result.status is SendStatus.RETRY
    assert "310000" in result.detail
    assert token not in result.detail


async def test_wecom_markdown(
    receiver: Receiver, catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WeCom (企业微信) group robot: POST to ``webhook/send?key=KEY`` (no signature: the key is
    the credential), body ``{"msgtype": "markdown", "markdown": {"content": ...}}`` with content
    at most 4096 bytes UTF-8; answer ``{"errcode": 0, "errmsg": "ok"}``. Source: WeCom developer
    docs, 群机器人配置说明 (developer.work.weixin.qq.com/document/path/91770)."""
    key = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    monkeypatch.setenv("PG_WECOM_KEY", key)

    def wecom(req: Received) -> tuple[int, dict[str, Any]]:
        if req.query.get("key") != key:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        body = req.json()
        content = body.get("markdown", {}).get("content", "")
        if body.get("msgtype") != "markdown" or not content or len(content.encode()) > 4096:
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    receiver.verify = wecom
    ch = _channel(
        {
            "id": "wc",
            "type": "wecom",
            "url": receiver.url + "/cgi-bin/webhook/send",
            "key": {"env": "PG_WECOM_KEY"},
        }
    )
    msg = _message(catalog, lang="en")
    result = await WeComSender(ch).send(msg, recipient="")
    assert result.status is SendStatus.SENT, result.detail
    content = receiver.accepted[0].json()["markdown"]["content"]
    assert content.startswith("### [MINOR] New incident: ")
    assert "terminal T1 (merchant M01)" in content
    assert "What to do" in content

    # a storm digest of 200 incidents still fits in 4096 bytes
    facts = [
        IncidentFacts(
            id=i,
            code="PRN.PAPER_OUT",
            severity="minor",
            status="open",
            scope=f"terminal:T{i}",
            terminal_id=f"T{i}",
            merchant_id="M01",
            opened_at=NOW,
            by=None,
        )
        for i in range(200)
    ]
    big = build_message(
        facts,
        transition="open",
        lang="zh",
        audience="ops",
        catalog=catalog,
        public_url="https://fleet.example",
        key="d" * 64,
        max_items=200,
    )
    assert (await WeComSender(ch).send(big, recipient="")).status is SendStatus.SENT
    assert len(receiver.accepted[1].json()["markdown"]["content"].encode()) <= 4096


async def test_feishu_card_with_signature(
    receiver: Receiver, catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feishu/Lark custom bot, "签名校验": ``timestamp`` (seconds) and ``sign`` in the JSON body,
    ``sign = base64(HmacSHA256(key = timestamp + "\\n" + secret, message = empty))`` (note: the
    string is the *key*, unlike DingTalk); the card is ``{"msg_type": "interactive", "card":
    {"header": {"title": {"tag": "plain_text"}, "template"}, "elements": [...]}}``; answer
    ``{"code": 0}``, a bad signature ``{"code": 19021, "msg": "sign match fail or timestamp is
    not within one hour from current time"}``. Source: Feishu open platform, 自定义机器人使用指南
    (open.feishu.cn/document/client-docs/bot-v3/add-custom-bot), 签名校验 section."""
    secret, hook_id = "feishu-secret-abc123", "5e3d587e-d78e-4a07-bd07-265f269f86fd"
    monkeypatch.setenv("PG_FS_SECRET", secret)
    monkeypatch.setenv("PG_FS_HOOK", hook_id)

    def feishu(req: Received) -> tuple[int, dict[str, Any]]:
        if req.path != f"/open-apis/bot/v2/hook/{hook_id}":
            return 404, {
                "code": 19001,
                "msg": "param invalid: incoming webhook access token invalid",
            }
        body = req.json()
        ts = body.get("timestamp", "")
        expect = base64.b64encode(
            hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()
        ).decode()
        if body.get("sign") != expect or abs(int(ts) - NOW.timestamp()) > 3600:
            return 200, {
                "code": 19021,
                "msg": "sign match fail or timestamp is not within one hour from current time",
            }
        card = body.get("card", {})
        if body.get("msg_type") != "interactive" or card["header"]["title"]["tag"] != "plain_text":
            return 200, {"code": 9499, "msg": "Bad Request"}
        return 200, {"code": 0, "msg": "success", "data": {}}

    receiver.verify = feishu
    ch = _channel(
        {
            "id": "fs",
            "type": "feishu",
            "url": receiver.url + "/open-apis/bot/v2/hook",
            "token": {"env": "PG_FS_HOOK"},
            "secret": {"env": "PG_FS_SECRET"},
        }
    )
    result = await FeishuSender(ch, FakeClock(NOW)).send(_message(catalog), recipient="")
    assert result.status is SendStatus.SENT, result.detail
    card = receiver.accepted[0].json()["card"]
    assert card["header"]["template"] == "yellow"  # minor
    assert card["header"]["title"]["content"].startswith("[次要] 新故障")
    assert "处理步骤" in card["elements"][0]["text"]["content"]
    button = card["elements"][1]["actions"][0]
    assert button["url"] == "https://fleet.example/ui/incidents/42"

    # the closing message: green header
    await FeishuSender(ch, FakeClock(NOW)).send(
        _message(catalog, transition="resolve"), recipient=""
    )
    assert receiver.accepted[1].json()["card"]["header"]["template"] == "green"

    monkeypatch.setenv("PG_FS_SECRET", "not-the-secret")
    result = await FeishuSender(ch, FakeClock(NOW)).send(_message(catalog), recipient="")
    assert result.status is SendStatus.RETRY
    assert "19021" in result.detail
    assert hook_id not in result.detail


async def test_webhook_schema_and_signature(
    receiver: Receiver, catalog: Any, hook_secret: str
) -> None:
    """The generic webhook as docs/notifications.md publishes it: ``X-Posguard-Signature:
    sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>`` (the scheme Stripe and
    GitHub use: a timestamped, hex HMAC over the raw body, compared in constant time), the
    ``posguard.notification/v1`` body and an idempotency key header."""

    def consumer(req: Received) -> tuple[int, dict[str, Any]]:
        ts = req.headers.get("x-posguard-timestamp", "")
        mac = hmac.new(hook_secret.encode(), ts.encode() + b"." + req.body, hashlib.sha256)
        if not hmac.compare_digest(
            req.headers.get("x-posguard-signature", ""), "sha256=" + mac.hexdigest()
        ):
            return 401, {"error": "bad signature"}
        return 200, {"ok": True}

    receiver.verify = consumer
    ch = _channel(
        {
            "id": "h",
            "type": "webhook",
            "url": receiver.url + "/hook",
            "secret": {"env": "PG_TEST_HOOK_SECRET"},
        }
    )
    msg = _message(catalog, lang="en")
    result = await WebhookSender(ch, FakeClock(NOW)).send(msg, recipient="")
    assert result.status is SendStatus.SENT, result.detail
    req = receiver.accepted[0]
    assert req.headers["x-posguard-idempotency-key"] == msg.key
    body = json.loads(req.body)
    assert body["schema"] == SCHEMA
    assert body["transition"] == "open"
    assert body["thread"] == "incident-42"
    inc = body["incidents"][0]
    assert inc["id"] == 42
    assert inc["code"] == "PRN.PAPER_OUT"
    assert inc["steps"]
    assert inc["link"] == "https://fleet.example/ui/incidents/42"
    assert inc["opened_at"] == "2026-11-25T10:00:00+00:00"

    # a receiver that does not know the secret refuses: 401 is a permanent failure
    receiver.verify = lambda _r: (401, {"error": "bad signature"})
    assert (await WebhookSender(ch, FakeClock(NOW)).send(msg, recipient="")).status is (
        SendStatus.FAILED
    )
    receiver.verify = lambda _r: (503, {"error": "busy"})
    assert (await WebhookSender(ch, FakeClock(NOW)).send(msg, recipient="")).status is (
        SendStatus.RETRY
    )


async def test_unreachable_receiver_is_retried_without_leaking(
    catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens: a transient error whose text names neither URL nor token."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connecting is refused
    monkeypatch.setenv("PG_WECOM_KEY", "key-that-must-not-leak")
    ch = _channel(
        {
            "id": "wc",
            "type": "wecom",
            "url": f"http://127.0.0.1:{port}/send",
            "key": {"env": "PG_WECOM_KEY"},
        }
    )
    result = await WeComSender(ch).send(_message(catalog), recipient="")
    assert result.status is SendStatus.RETRY
    assert "key-that-must-not-leak" not in result.detail
    assert str(port) not in result.detail
