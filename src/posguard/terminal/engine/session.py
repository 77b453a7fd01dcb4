"""The terminal's session with its acquirer: working keys from sign-on, and one checked
request/answer exchange (encode, MAC, send over the host link, decode, match, verify MAC).

Every way an exchange can go wrong comes back as a :class:`Reply` status, never an exception:
not sent (safe), no answer (the request may have arrived), a bad answer, a bad MAC; the
verdict itself is :mod:`posguard.terminal.engine.answer`'s, which the doctor's echo shares.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from posguard.common.errors import LinkError, MessageEncodeError, MessageError
from posguard.common.events import EventKind
from posguard.iso8583.codec import Message, encode
from posguard.iso8583.fields import parse_field60
from posguard.iso8583.keys import WorkingKeys, unwrap_working_keys
from posguard.iso8583.mac import MacAlgorithm, apply_mac
from posguard.iso8583.response_codes import lookup
from posguard.iso8583.spec import MessageSpec
from posguard.terminal.config import TerminalConfig
from posguard.terminal.engine import messages
from posguard.terminal.engine.answer import Status, check_answer, link_failure
from posguard.terminal.journal.store import Journal, JournalError
from posguard.terminal.link.failover import HostLink, NoSession

Emit = Callable[..., object]
__all__ = ["HostSession", "Reply", "Status"]


@dataclass(frozen=True, slots=True)
class Reply:
    status: Status
    answer: Message | None = None
    host: str | None = None
    code: str | None = None  # catalog code of the failure, or of a non-approved rc
    seconds: float = 0.0

    @property
    def rc(self) -> str | None:
        if self.answer is None:
            return None
        rc = self.answer.get("39")
        return rc if isinstance(rc, str) else None


class HostSession:
    def __init__(
        self,
        cfg: TerminalConfig,
        spec: MessageSpec,
        link: HostLink,
        journal: Journal,
        emit: Emit | None = None,
    ) -> None:
        self.cfg = cfg
        self.spec = spec
        self.link = link
        self.journal = journal
        # key domain (a host's name unless front-ends share one) -> that session's working keys
        self._keys: dict[str, WorkingKeys] = {}
        self._domain = {h.name: h.keys_of for h in cfg.hosts}
        self.mac_alg = MacAlgorithm[cfg.mac_algorithm]
        self._emit = emit
        self.sign_ons = 0

    def emit(self, kind: EventKind, code: str | None = None, **data: object) -> None:
        if self._emit is not None:
            self._emit(kind, code, **data)

    def domain(self, host: str) -> str:
        """The key domain of ``host`` (``HostEndpoint.key_domain``, else the host itself)."""
        return self._domain.get(host, host)

    @property
    def keys(self) -> WorkingKeys | None:
        """The working keys of the host the next exchange goes to first (None: not signed on
        to it). Each host keeps its own session, unless front-ends share a key domain: a
        backup is signed on to before it is used."""
        return self.keys_for(self.link.preferred())

    def keys_for(self, host: str) -> WorkingKeys | None:
        return self._keys.get(self.domain(host))

    def drop_keys(self, why: str, host: str | None = None) -> None:
        """Forget the working keys of ``host``'s key domain (every domain when None): the next
        exchange with any host of it signs on first."""
        domains = list(self._keys) if host is None else [self.domain(host)]
        for name in domains:
            if self._keys.pop(name, None) is not None:
                self.emit(EventKind.LIFECYCLE, None, event="keys_dropped", reason=why, host=name)

    async def sign_on(self, host: str | None = None) -> Reply:
        """0800 / 0810 with ``host`` (default: the preferred host): fetch and check new
        working keys (field 62, under the TMK), and adopt the batch the host assigns."""
        stan = self.journal.next_stan()
        msg = messages.sign_on(self.cfg, stan, self.journal.current_batch())
        reply = await self.exchange(msg, mac=False, only=host)
        if reply.status is not Status.OK or reply.answer is None:
            return reply
        if reply.rc != "00":
            return Reply(Status.OK, reply.answer, reply.host, lookup(reply.rc or "").catalog_code)
        f62 = reply.answer.get("62")
        try:
            if not isinstance(f62, bytes):
                raise MessageError("0810 approved without working keys in field 62", field="62")
            keys = unwrap_working_keys(self.cfg.tmk_bytes, f62)
        except MessageError as exc:
            self.emit(EventKind.FAULT, "TXN.MAC_ERROR", stage="sign_on", detail=exc.message)
            return Reply(Status.BAD_ANSWER, reply.answer, reply.host, "TXN.MAC_ERROR")
        self._keys[self.domain(reply.host or self.link.preferred())] = keys
        self.sign_ons += 1
        self.emit(EventKind.LIFECYCLE, None, event="signed_on", host=reply.host or "")
        self._adopt_batch(reply.answer)
        return reply

    def _adopt_batch(self, answer: Message) -> None:
        """UnionPay: the host assigns the batch number in the 0810's field 60.2."""
        f60 = answer.get("60")
        if not isinstance(f60, str):
            return
        try:
            batch = parse_field60(f60).batch
            before = self.journal.current_batch()
            if self.journal.adopt_batch(batch):
                self.emit(EventKind.LIFECYCLE, None, event="batch_adopted", batch=batch, was=before)
            elif batch != before:
                self.emit(
                    EventKind.FAULT,
                    "RECON.TOTALS_MISMATCH",
                    stage="sign_on",
                    detail=f"host batch {batch}, terminal batch {before} holds transactions",
                )
        except (MessageError, JournalError) as exc:
            self.emit(EventKind.FAULT, "TXN.FORMAT_ERROR", stage="sign_on", detail=str(exc))

    async def ensure_signed_on(self, host: str | None = None) -> Reply | None:
        """None when keys for ``host`` (default: the preferred host) are in hand, signing on
        if needed; else the failed sign-on's reply."""

        def have() -> bool:
            return (self.keys_for(host) if host else self.keys) is not None

        if have():
            return None
        reply = await self.sign_on(host)  # no host named: the link may fail over
        if have():
            return None
        if reply.status is Status.OK:  # answered, but not approved
            return Reply(
                Status.NOT_SENT, reply.answer, reply.host, reply.code or "CFG.NOT_SIGNED_ON"
            )
        return reply

    def _builder(self, msg: Message, mac: bool) -> Callable[[str], bytes | None]:
        def build(host: str) -> bytes | None:
            if not mac:
                return encode(self.spec, msg)
            keys = self.keys_for(host)
            if keys is None:
                return None
            return encode(self.spec, apply_mac(self.spec, msg, self.mac_alg, keys.mac_key))

        return build

    async def exchange(self, msg: Message, *, mac: bool = True, only: str | None = None) -> Reply:
        """Send ``msg`` and return the checked answer (see :class:`Status`). With ``mac`` it
        is MACed with the keys of the host the link connects to; a host without a session is
        signed on to first (once), so failing over never sends a MAC the host cannot check."""
        t0 = time.perf_counter()
        for _ in range(2):
            try:
                got = await self.link.exchange(self._builder(msg, mac), only=only)
                break
            except NoSession as need:
                failed = await self.ensure_signed_on(need.host)
                if failed is not None:
                    return Reply(Status.NOT_SENT, code=failed.code or "CFG.NOT_SIGNED_ON")
                only = need.host
            except MessageEncodeError:
                raise  # our own message is wrong: a bug, not an answer
            except (LinkError, MessageError) as exc:  # no answer, or a garbage frame header
                status, code = link_failure(exc)
                if status is Status.BAD_ANSWER:
                    self.emit(EventKind.FAULT, code, stage="frame", detail=exc.message)
                host = exc.context.get("host") if isinstance(exc, LinkError) else None
                return Reply(status, code=code, host=host, seconds=time.perf_counter() - t0)
        else:
            return Reply(Status.NOT_SENT, code="CFG.NOT_SIGNED_ON")
        keys = self.keys_for(got.host) if mac else None
        checked = check_answer(
            self.spec,
            msg,
            got.payload,
            mac_alg=self.mac_alg,
            mac_key=keys.mac_key if keys is not None else None,
        )
        seconds = time.perf_counter() - t0
        if checked.status is Status.BAD_ANSWER:
            self.emit(EventKind.FAULT, checked.code, host=got.host, detail=checked.problem)
        elif checked.status is Status.BAD_MAC:
            self.emit(EventKind.FAULT, checked.code, host=got.host, stage="answer")
            self.drop_keys("MAC of an answer failed", got.host)
        elif checked.answer is not None:
            rc = checked.answer.get("39")
            if isinstance(rc, str) and rc != "00" and lookup(rc).needs_sign_on:
                self.drop_keys(f"host answered {rc}", got.host)
        return Reply(checked.status, checked.answer, got.host, checked.code, seconds)
