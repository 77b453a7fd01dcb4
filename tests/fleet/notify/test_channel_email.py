"""E-mail against a local aiosmtpd server: STARTTLS with a certificate the client must verify,
AUTH only after TLS, and the open / resolve messages in one thread.

Rules: SMTP STARTTLS (RFC 3207: the client must not send AUTH or mail in clear when it asked
for TLS and the server does not offer it), SMTP AUTH (RFC 4954), and threading by
``Message-ID`` / ``In-Reply-To`` / ``References`` (RFC 5322 section 3.6.4)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from posguard.common.testing import write_self_signed_cert
from posguard.fleet.clock import FakeClock
from posguard.fleet.notify.channels.base import SendStatus
from posguard.fleet.notify.channels.email import EmailSender
from posguard.fleet.notify.config import parse_config
from posguard.fleet.notify.message import IncidentFacts, build_message

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
USER, PASSWORD = "posguard@example.com", "smtp-pass-9f8e7d"


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    rcpts: list[list[str]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.rcpts.append(list(envelope.rcpt_tos))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == USER
            and auth_data.password.decode() == PASSWORD
        )
        if ok:
            self.logins.append(USER)
        return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Smtp:
    mailbox: Mailbox
    port: int
    ca_file: Path


@pytest.fixture
def smtp_tls(tmp_path: Path) -> Iterator[Smtp]:
    cert, key = write_self_signed_cert(tmp_path, "127.0.0.1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    box = Mailbox()
    port = _free_port()
    ctl = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        tls_context=ctx,
        require_starttls=True,
        authenticator=box.authenticate,
        auth_require_tls=True,
        auth_required=True,
    )
    ctl.start()
    yield Smtp(box, port, cert)
    ctl.stop()


def _channel(port: int, **extra: Any) -> Any:
    spec = {
        "id": "mail",
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "sender": "posguard <posguard@example.com>",
        "username": USER,
        "password": {"env": "PG_SMTP_PASSWORD"},
        **extra,
    }
    return parse_config({"channels": [spec], "routes": []}, source="t.yaml").channels["mail"]


def _msg(catalog: Any, transition: str) -> Any:
    facts = IncidentFacts(
        id=9,
        code="NET.CONNECT_TIMEOUT",
        severity="critical",
        status="open",
        scope="host:acq-east",
        terminal_id=None,
        merchant_id=None,
        opened_at=NOW,
        by="ops" if transition != "open" else None,
    )
    return build_message(
        [facts],
        transition=transition,
        lang="en",
        audience="ops",
        catalog=catalog,
        public_url="https://fleet.example",
        key=f"{transition}-key-".ljust(64, "0"),
    )


async def test_starttls_auth_and_thread(
    smtp_tls: Smtp, catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PG_SMTP_PASSWORD", PASSWORD)
    ch = _channel(smtp_tls.port, ca_file=str(smtp_tls.ca_file))
    sender = EmailSender(ch, FakeClock(NOW))
    opened = await sender.send(_msg(catalog, "open"), recipient="ops@example.com")
    assert opened.status is SendStatus.SENT, opened.detail
    closed = await sender.send(_msg(catalog, "resolve"), recipient="ops@example.com")
    assert closed.status is SendStatus.SENT, closed.detail
    box = smtp_tls.mailbox
    assert box.logins == [USER, USER]
    assert box.rcpts == [["ops@example.com"]] * 2
    first, last = box.messages
    assert first["Subject"] == "[CRITICAL] New incident: " + catalog["NET.CONNECT_TIMEOUT"].title.en
    assert first["Message-ID"] == "<incident-9@posguard>"
    assert last["In-Reply-To"] == first["Message-ID"] == last["References"]
    assert last["Subject"].startswith("[CRITICAL] Resolved: ")
    body = first.get_content()
    assert "acquirer host acq-east" in body
    assert "What to do" in body
    assert "https://fleet.example/ui/incidents/9" in body
    assert PASSWORD not in body


async def test_wrong_password_and_untrusted_certificate_fail(
    smtp_tls: Smtp, catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PG_SMTP_PASSWORD", "wrong-password")
    ch = _channel(smtp_tls.port, ca_file=str(smtp_tls.ca_file))
    result = await EmailSender(ch, FakeClock(NOW)).send(_msg(catalog, "open"), recipient="a@b.c")
    assert result.status is SendStatus.FAILED
    assert "authentication" in result.detail
    assert "wrong-password" not in result.detail
    monkeypatch.setenv("PG_SMTP_PASSWORD", PASSWORD)
    no_ca = _channel(smtp_tls.port)  # the system store does not know the test CA
    result = await EmailSender(no_ca, FakeClock(NOW)).send(_msg(catalog, "open"), recipient="a@b.c")
    assert result.status is SendStatus.FAILED
    assert "certificate" in result.detail
    assert smtp_tls.mailbox.messages == []


async def test_server_without_starttls_is_refused(
    catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked for STARTTLS, offered none: nothing (no password, no incident) goes in clear."""
    monkeypatch.setenv("PG_SMTP_PASSWORD", PASSWORD)
    box = Mailbox()
    port = _free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        result = await EmailSender(_channel(port), FakeClock(NOW)).send(
            _msg(catalog, "open"), recipient="ops@example.com"
        )
        assert result.status is SendStatus.FAILED
        assert "STARTTLS" in result.detail
        assert box.messages == []
        # tls: none is an explicit choice (a relay on localhost): then it is sent
        plain = _channel(port, tls="none", username=None, password=None)
        result = await EmailSender(plain, FakeClock(NOW)).send(
            _msg(catalog, "open"), recipient="ops@example.com"
        )
        assert result.status is SendStatus.SENT
        assert len(box.messages) == 1
    finally:
        ctl.stop()
