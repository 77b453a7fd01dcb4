"""E-mail over SMTP (stdlib ``smtplib`` in a worker thread): STARTTLS (default), implicit TLS
or none, optional AUTH; the certificate is verified (system store or ``ca_file``).

Messages about one incident share a thread: the first has ``Message-ID: <incident-N@posguard>``
and every later one (escalation, ack, resolve) names it in ``In-Reply-To`` / ``References``.
With ``tls: starttls`` a server that does not offer STARTTLS is refused (no clear-text
password, no clear-text incident data).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from posguard.fleet.clock import Clock
from posguard.fleet.notify.channels.base import SendResult, SendStatus
from posguard.fleet.notify.config import EmailChannel, TlsMode
from posguard.fleet.notify.message import Message, plain_text
from posguard.fleet.notify.secrets import redact

DOMAIN = "posguard"


def build_email(ch: EmailChannel, msg: Message, *, recipient: str, clock: Clock) -> EmailMessage:
    em = EmailMessage()
    em["Subject"] = msg.title
    em["From"] = ch.sender
    em["To"] = recipient
    em["Date"] = formatdate(clock.now().timestamp(), usegmt=True)
    thread_id = f"<{msg.thread}@{DOMAIN}>"
    if msg.kind == "open":
        em["Message-ID"] = thread_id
    else:
        em["Message-ID"] = f"<{msg.key[:32]}.{msg.kind}@{DOMAIN}>"
        em["In-Reply-To"] = thread_id
        em["References"] = thread_id
    em["X-Posguard-Idempotency-Key"] = msg.key
    em.set_content(plain_text(msg), charset="utf-8")
    return em


def _deliver(ch: EmailChannel, em: EmailMessage, recipient: str, password: str | None) -> None:
    context = ssl.create_default_context(cafile=str(ch.ca_file) if ch.ca_file else None)
    smtp: smtplib.SMTP
    if ch.tls is TlsMode.SSL:
        smtp = smtplib.SMTP_SSL(ch.host, ch.port, timeout=ch.timeout_s, context=context)
    else:
        smtp = smtplib.SMTP(ch.host, ch.port, timeout=ch.timeout_s)
    with smtp:
        if ch.tls is TlsMode.STARTTLS:
            smtp.ehlo()
            smtp.starttls(context=context)  # SMTPNotSupportedError when not offered
            smtp.ehlo()
        if ch.username is not None:
            smtp.login(ch.username, password or "")
        smtp.send_message(em, to_addrs=[recipient])


class EmailSender:
    def __init__(self, channel: EmailChannel, clock: Clock) -> None:
        self.channel = channel
        self.clock = clock

    async def send(self, msg: Message, *, recipient: str) -> SendResult:
        password = self.channel.password.resolve() if self.channel.password else None
        em = build_email(self.channel, msg, recipient=recipient, clock=self.clock)
        try:
            await asyncio.to_thread(_deliver, self.channel, em, recipient, password)
        except smtplib.SMTPNotSupportedError:
            return SendResult(SendStatus.FAILED, "server does not offer STARTTLS")
        except smtplib.SMTPAuthenticationError as exc:
            return SendResult(SendStatus.FAILED, f"authentication refused ({exc.smtp_code})")
        except smtplib.SMTPRecipientsRefused:
            return SendResult(SendStatus.FAILED, "recipient refused")
        except ssl.SSLCertVerificationError:
            return SendResult(SendStatus.FAILED, "server certificate not trusted")
        except smtplib.SMTPResponseException as exc:
            status = SendStatus.FAILED if 500 <= exc.smtp_code < 600 else SendStatus.RETRY
            secrets = [password] if password else []
            return SendResult(status, redact(f"SMTP {exc.smtp_code}", secrets))
        except (smtplib.SMTPException, OSError) as exc:
            return SendResult(SendStatus.RETRY, f"SMTP transport error: {type(exc).__name__}")
        return SendResult(SendStatus.SENT, "250 accepted")
