"""One request frame in, one answer frame out: decode, check, verify MAC and PIN, dispatch to
the issuer, encode and MAC the answer, journal both.

Synchronous by design: the server runs :meth:`HostHandler.handle` on its event loop thread, inside
the group commit's transaction, which serialises every ledger write. Bad input never raises out
of :meth:`handle`: a readable MTI gets a format-error answer (``30``, echoing fields 3, 11, 41
and 42 when they could be read), anything else ``None`` (the server closes the connection). A
response-class MTI (``xx1x``/``xx3x``: an answer sent to the host) gets no processing and no
answer, only a journal entry. Fields 12/13
that are not a time / date, and a UnionPay header the profile forbids, are format errors; a
processing code the profile does not have, from an authenticated terminal, is ``12``.

Answers are MACed with the session key whenever the request's MAC verified; answers that say
the MAC or the session is wrong (``A0``, ``77``) and answers to requests that could not be
authenticated (``30``, ``97``, ``03``) carry no MAC, since there is no key both sides trust.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from posguard.card import mask_pan
from posguard.common.errors import MessageDecodeError, MessageEncodeError, MessageError
from posguard.host import training
from posguard.host.issuer import AuthRequest, Decision, Issuer, ReversalRequest
from posguard.host.journal import HostJournal, JournalEntry
from posguard.host.request_checks import bad_datetime, bad_header, is_response_class
from posguard.host.sessions import Session, Sessions
from posguard.host.settlement import Totals
from posguard.host.terminal_books import TerminalBooks
from posguard.iso8583.codec import Message, PartialDecodeError, decode, encode
from posguard.iso8583.fields import (
    Field60,
    NetworkCode,
    SettlementFlag,
    SettlementTotals,
    answer_mti,
    parse_field60,
    parse_field61,
    parse_settlement_totals,
    parse_upload_entries,
    response_header,
    settlement_totals,
)
from posguard.iso8583.keys import decrypt_pin
from posguard.iso8583.mac import MAC_LEN
from posguard.iso8583.mandatory import check_mandatory
from posguard.iso8583.operations import TxnKind, classify, classify_original
from posguard.iso8583.spec import MessageSpec
from posguard.iso8583.training import FIELD as TRAINING_FIELD
from posguard.iso8583.training import MARK as TRAINING_MARK
from posguard.iso8583.training import is_training

__all__ = ["HandleResult", "HostHandler"]

log = structlog.get_logger("posguard.host")

_REQUEST_MTIS = frozenset({"0100", "0200", "0220", "0320", "0400", "0401", "0500", "0800", "0820"})
# Request fields an answer echoes back (never 2, 35, 52: card data stays in the request).
_ECHO = ("3", "4", "11", "12", "13", "14", "22", "25", "41", "42", "49", "60", "61")


# Built for every request: not frozen (see posguard.host.decisions). Treat it as immutable.
@dataclass(slots=True)
class HandleResult:
    """The answer bytes (no frame header), or None: no answer, and unless ``keep_open`` the
    connection is closed."""

    answer: bytes | None
    entry: JournalEntry
    keep_open: bool = False


class HostHandler:
    """Message dispatch for one host; holds the sessions (sign-on state) of all terminals. The
    issuer decides card requests; ``terminals`` gives a terminal's keys and its open batch."""

    def __init__(
        self,
        spec: MessageSpec,
        issuer: Issuer,
        journal: HostJournal,
        terminals: TerminalBooks,
        *,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.spec = spec
        self.issuer = issuer
        self.journal = journal
        self.terminals = terminals
        self.sessions = Sessions()
        self._clock = clock
        raw_spec = spec.pyiso8583
        self._bitmap_at = spec.header_len + (2 if raw_spec["t"]["data_enc"] == "b" else 4)
        self._ascii_bitmap = raw_spec["p"]["data_enc"] != "b"
        self._stamp_at: datetime | None = None
        self._stamp_text = ("", "")

    # -- entry point --------------------------------------------------------------------------

    def handle(self, raw: bytes, peer: str) -> HandleResult:
        try:
            msg = decode(self.spec, raw)
        except MessageDecodeError as exc:
            return self._undecodable(raw, peer, exc)
        mti = str(msg.get("t", ""))
        if is_response_class(mti):
            return self._ignored(msg, raw, peer)
        try:
            answer, decision, session = self._dispatch(msg, raw)
        except MessageError as exc:  # malformed field content found while handling
            answer, decision, session = self._format_error(msg, str(exc)), None, None
            log.warning("malformed request", peer=peer, mti=mti, error=str(exc))
        if decision is None:
            decision = Decision(str(answer.get("39", "30")), "format error")
        try:
            if session is not None and decision.rc not in ("A0", "77"):
                out: bytes | None = self._encode_maced(answer, session)
            else:
                out = encode(self.spec, answer)
        except MessageEncodeError as exc:  # an echoed field we cannot re-encode
            log.warning("cannot encode answer", peer=peer, mti=mti, error=str(exc))
            out = None
        get = msg.get
        pan = get("2")
        # Positional (peer, tid, mti, stan, rc, pan_masked, amount, raw_len, decision,
        # answer_mti): built for every request.
        entry = JournalEntry(
            peer,
            str(get("41", "")),
            mti,
            str(get("11", "")),
            decision.rc if out is not None else "",
            mask_pan(pan) if isinstance(pan, str) else "",
            _amount(msg),
            len(raw),
            decision.reason,
            str(answer.get("t", "")) if out is not None else "",
        )
        self.journal.record(entry)
        return HandleResult(out, entry)

    def _ignored(self, msg: Message, raw: bytes, peer: str) -> HandleResult:
        """An answer-class message sent to the host: nothing to process, nothing to answer."""
        mti = str(msg.get("t", ""))
        log.warning("response-class message ignored", peer=peer, mti=mti)
        entry = JournalEntry(
            peer=peer,
            tid=_text(msg, "41"),
            mti=mti,
            stan=_text(msg, "11"),
            rc="",
            pan_masked="",
            amount=_amount(msg),
            raw_len=len(raw),
            decision=f"response-class MTI {mti} sent to the host: ignored, not answered",
        )
        self.journal.record(entry)
        return HandleResult(None, entry, keep_open=True)

    def _encode_maced(self, answer: Message, session: Session) -> bytes:
        """Encode once with a placeholder MAC, then put the MAC over the packed bytes in place
        (field 64 is the last 8 bytes; the same bytes ``mac.mac_input`` would produce)."""
        packed = encode(self.spec, {**answer, "64": bytes(8)})
        return packed[:-8] + session.mac.compute(packed[self.spec.header_len : -8])

    def _mac_verifies(self, raw: bytes, session: Session) -> bool:
        """Field 64 checked on the received bytes (no re-encoding), with the session's engine."""
        at, ascii_bitmap = self._bitmap_at, self._ascii_bitmap
        if ascii_bitmap:
            try:
                bitmap = bytes.fromhex(raw[at : at + 16].decode("ascii"))
            except ValueError:  # UnicodeDecodeError is a ValueError
                return False
        else:
            bitmap = raw[at : at + 8]
        if len(bitmap) != 8 or len(raw) < at + 8 + MAC_LEN:
            return False
        if not bitmap[7] & 0x01 or bitmap[0] & 0x80:  # 64 must be the last field
            return False
        return session.mac.verify(raw[self.spec.header_len : -MAC_LEN], raw[-MAC_LEN:])

    def _undecodable(self, raw: bytes, peer: str, exc: MessageDecodeError) -> HandleResult:
        mti, header = self._peek_mti(raw)
        log.warning(
            "undecodable request", peer=peer, mti=mti or "?", raw_len=len(raw), error=str(exc)
        )
        out: bytes | None = None
        readable = _readable_fields(exc)
        if mti is not None and is_response_class(mti):
            mti = None  # an answer sent to the host is never answered
        if mti is not None:
            answer: Message = {"t": answer_mti(mti), "39": "30"}
            if header is not None:
                answer["h"] = header
            answer.update(readable)
            try:
                out = encode(self.spec, answer)
            except MessageEncodeError:
                answer = {k: v for k, v in answer.items() if k not in readable}
                try:
                    out = encode(self.spec, answer)
                except MessageEncodeError:
                    out = None
        entry = JournalEntry(
            peer=peer,
            tid=str(readable.get("41", "")),
            mti=mti or "",
            stan=str(readable.get("11", "")),
            rc="30" if out else "",
            pan_masked="",
            amount=None,
            raw_len=len(raw),
            decision=f"undecodable: {exc.message}",
            answer_mti=answer_mti(mti) if out and mti else "",
        )
        self.journal.record(entry)
        return HandleResult(out, entry)

    def _peek_mti(self, raw: bytes) -> tuple[str | None, str | None]:
        """The MTI (and answer header) of a message that does not decode, if they are readable."""
        hlen = self.spec.header_len
        if hlen:
            head, body = raw[:hlen], raw[hlen : hlen + 2]
            mti = body.hex() if len(body) == 2 else ""
            try:
                header = response_header(head.hex().upper()) if len(head) == hlen else None
            except MessageDecodeError:
                header = None
            if header is None:
                return None, None
        else:
            mti, header = raw[:4].decode("ascii", "replace"), None
        return (mti, header) if len(mti) == 4 and mti.isdigit() else (None, None)

    # -- dispatch -----------------------------------------------------------------------------

    def _dispatch(
        self, msg: Message, raw: bytes
    ) -> tuple[Message, Decision | None, Session | None]:
        mti = str(msg.get("t", ""))
        if mti not in _REQUEST_MTIS:
            return (
                self._format_error(msg, "unknown MTI"),
                Decision("30", f"MTI {mti} is not a request of the profile"),
                None,
            )
        if self.spec.header_len:
            header_fault = bad_header(msg.get("h"))
            if header_fault is not None:
                return self._format_error(msg, header_fault), Decision("30", header_fault), None
        try:
            practice = is_training(msg)
        except MessageError as exc:
            return self._format_error(msg, exc.message), Decision("30", exc.message), None
        unknown_op = False
        try:
            check_mandatory(msg, received=True)
        except MessageError as exc:
            unknown_op = _unknown_processing_code(msg, exc)
            if not unknown_op:
                return self._format_error(msg, str(exc)), Decision("30", exc.message), None
        when_fault = bad_datetime(msg)
        if when_fault is not None:
            return self._format_error(msg, when_fault), Decision("30", when_fault), None
        tid, mid = _text(msg, "41"), _text(msg, "42")
        f60 = parse_field60(_text(msg, "60"))
        bad_terminal = self.issuer.check_terminal(tid, mid)
        if bad_terminal is not None:
            return self._answer(msg, bad_terminal), bad_terminal, None
        if mti == "0800":
            return self._sign_on(msg, tid, f60)
        session = self.sessions.get(tid)
        if mti == "0820" and f60.net_code == NetworkCode.ECHO and session is None:
            d = Decision("00", "echo test")
            return self._answer(msg, d), d, None
        if session is None:
            d = Decision("77", "terminal not signed on")
            return self._answer(msg, d), d, None
        mac = msg.get("64")
        if not isinstance(mac, bytes) or not self._mac_verifies(raw, session):
            d = Decision("A0", "MAC missing" if mac is None else "MAC does not verify")
            return self._answer(msg, d), d, None
        off_batch = self.terminals.batch_refusal(tid, mti, f60.batch)
        if off_batch is not None:
            d = Decision("77", off_batch)
            return self._answer(msg, d), d, session
        if unknown_op:
            d = Decision(
                "12", f"processing code {_text(msg, '3')} is not one of {mti} in the profile"
            )
        elif practice and mti not in ("0800", "0820"):
            answer, d = self._training(msg, mti, tid, f60)
            return answer, d, session
        else:
            d = self._route(msg, mti, tid, mid, f60, session)
        return self._answer(msg, d), d, session

    def _route(
        self, msg: Message, mti: str, tid: str, mid: str, f60: Field60, session: Session
    ) -> Decision:
        type_code, batch, net = f60.type_code, f60.batch, f60.net_code
        if mti == "0820":
            if net == NetworkCode.SIGN_OFF:
                self.sessions.sign_off(tid)
                return Decision("00", "signed off")
            if net == NetworkCode.ECHO:
                return Decision("00", "echo test")
            return Decision("12", f"network management code {net} not supported")
        if mti in ("0400", "0401"):
            return self.issuer.reverse(
                ReversalRequest(
                    tid,
                    _text(msg, "11"),
                    batch,
                    _amount(msg),
                    reason=_text(msg, "39"),
                    repeat=mti == "0401",
                    pan=_text(msg, "2") or None,
                )
            )
        if mti == "0500":
            totals, _flag = parse_settlement_totals(_text(msg, "48"))
            return self.issuer.settle(tid, batch, Totals(*totals))
        if mti == "0320":
            if net == NetworkCode.BATCH_UPLOAD_END:
                return self.issuer.end_upload(tid, batch)
            if "48" in msg and "2" not in msg:  # up to 8 magnetic-stripe sales in field 48
                return self._upload_swiped(tid, batch, _text(msg, "48"))
            kind = classify_original(_text(msg, "3"), type_code)
            amount = _amount(msg)
            if kind is None or amount is None:
                return Decision("12", "batch upload of an unknown transaction type")
            stan = parse_field61(_text(msg, "61")).stan if "61" in msg else _text(msg, "11")
            pan = msg.get("2")
            return self.issuer.upload(
                tid, batch, kind, stan, amount, pan if isinstance(pan, str) else None
            )
        kind = classify(mti, _text(msg, "3"), type_code)
        if kind is None:
            return Decision("12", "operation not in the profile (MTI, field 3, 60.1)")
        return self.issuer.authorize(self._auth_request(msg, kind, tid, mid, batch, session))

    def _training(self, msg: Message, mti: str, tid: str, f60: Field60) -> tuple[Message, Decision]:
        """A training request: answered by :mod:`posguard.host.training` (nothing booked),
        with the mark echoed so the terminal knows it was practice."""
        kind = classify(mti, _text(msg, "3"), f60.type_code)
        d = training.decide(mti, kind, tid=tid, stan=_text(msg, "11"), amount=_amount(msg))
        answer = self._answer(msg, d)
        answer[TRAINING_FIELD] = TRAINING_MARK
        return answer, d

    def _upload_swiped(self, tid: str, batch: str, field48: str) -> Decision:
        for e in parse_upload_entries(field48):
            d = self.issuer.upload(tid, batch, TxnKind.SALE, e.stan, e.amount, e.pan or None)
            if not d.approved:
                return d
        return Decision("00", "batch upload of magnetic-stripe transactions recorded")

    def _auth_request(
        self, msg: Message, kind: TxnKind, tid: str, mid: str, batch: str, session: Session
    ) -> AuthRequest:
        pan = msg.get("2")
        pan = pan if isinstance(pan, str) else None
        pin: str | None = None
        pin_error = False
        block = msg.get("52")
        if isinstance(block, bytes) and pan is not None:
            try:
                pin = decrypt_pin(session.pin_key, block, pan)
            except MessageError:
                pin_error = True
        orig = parse_field61(_text(msg, "61")) if "61" in msg else None
        # Positional, in AuthRequest's field order (built for every card request).
        return AuthRequest(
            kind,
            tid,
            mid,
            _text(msg, "11"),  # stan
            batch,
            _text(msg, "13") or self._clock().strftime("%m%d"),  # txn_date
            pan,
            _amount(msg),
            _text(msg, "14") or None,  # expiry
            pin,
            pin_error,
            orig.batch if orig else None,
            orig.stan if orig else None,
            orig.mmdd if orig else None,  # orig_date
            _text(msg, "37") or None,  # orig_rrn
            _text(msg, "49") or None,  # currency
            _text(msg, "22"),  # entry_mode
        )

    def _sign_on(self, msg: Message, tid: str, f60: Field60) -> tuple[Message, Decision, None]:
        """New working keys (field 62) and the terminal's open batch (field 60.2), which the
        host assigns (:mod:`posguard.host.batches`)."""
        term = self.terminals.terminal(tid)
        assert term is not None  # check_terminal passed
        batch = self.terminals.batch_at_sign_on(tid, f60.batch)
        _session, field62 = self.sessions.sign_on(tid, term.tmk, term.mac_alg, batch)
        d = Decision("00", f"signed on, working keys issued, batch {batch}")
        answer = self._answer(msg, d)
        asked = _text(msg, "60")
        answer["60"] = asked[:2] + batch + asked[8:]  # 60.1, 60.3 (and any 60.4...) as asked
        answer["62"] = field62
        return answer, d, None

    # -- answers ------------------------------------------------------------------------------

    def _answer(self, msg: Message, d: Decision) -> Message:
        mti = str(msg["t"])
        out: Message = {"t": answer_mti(mti)}
        if "h" in msg:
            out["h"] = response_header(str(msg["h"]))
        for key in _ECHO:
            if key in msg:
                out[key] = msg[key]
        out["12"], out["13"] = self._stamp()
        out["39"] = d.rc
        if d.rrn:
            out["37"] = d.rrn
        if d.auth_code:
            out["38"] = d.auth_code
        if d.balance is not None:
            out["54"] = f"1002156{'C' if d.balance >= 0 else 'D'}{abs(d.balance):012d}"
        if d.totals is not None and mti in ("0500", "0320"):
            flag = d.settle_flag or (
                SettlementFlag.BALANCED if d.approved else SettlementFlag.OUT_OF_BALANCE
            )
            out["48"] = settlement_totals(
                SettlementTotals(
                    d.totals.debit_count,
                    d.totals.debit_amount,
                    d.totals.credit_count,
                    d.totals.credit_amount,
                ),
                flag,
            )
        return out

    def _stamp(self) -> tuple[str, str]:
        """Fields 12 (hhmmss) and 13 (MMDD) of an answer: the host's local time, formatted once
        per second (strftime is a large part of building an answer)."""
        now = self._clock().replace(microsecond=0)
        if now != self._stamp_at:
            text = now.strftime("%H%M%S%m%d")
            self._stamp_at, self._stamp_text = now, (text[:6], text[6:])
        return self._stamp_text

    def _format_error(self, msg: Message, why: str) -> Message:
        out: Message = {"t": answer_mti(str(msg.get("t", "0000"))), "39": "30"}
        if "h" in msg:
            with contextlib.suppress(MessageError):
                out["h"] = response_header(str(msg["h"]))
        for key in _FORMAT_ERROR_ECHO:
            if key in msg:
                out[key] = msg[key]
        return out


#: What a format-error answer echoes whenever it could be read (the profile: every answer carries
#: 3, 11, 39, 41, 42 so that the terminal can match it).
_FORMAT_ERROR_ECHO = ("3", "11", "41", "42")


def _readable_fields(exc: MessageDecodeError) -> Message:
    """The echo fields the decoder could read (the codec keeps them on its error, whether the
    fault was the message's structure or a field's content)."""
    partial = exc.decoded if isinstance(exc, PartialDecodeError) else {}
    return {
        k: v
        for k in _FORMAT_ERROR_ECHO
        if isinstance(v := partial.get(k), str) and v.isascii() and v.isalnum()
    }


def _unknown_processing_code(msg: Message, exc: MessageError) -> bool:
    """Whether the mandatory check failed only because field 3 is a well-formed processing code
    the profile does not have for this MTI (answered 12, not 30), the message being otherwise
    complete enough to authenticate."""
    f3 = msg.get("3")
    if exc.context.get("field") != "3" or not isinstance(f3, str):
        return False
    if not (len(f3) == 6 and f3.isdigit()):
        return False
    return all(msg.get(k) for k in ("11", "41", "42", "60"))


def _text(msg: Message, key: str) -> str:
    value = msg.get(key, "")
    return value if isinstance(value, str) else ""


def _amount(msg: Message) -> int | None:
    value = msg.get("4")
    return int(value) if isinstance(value, str) and value.isdigit() else None
