"""Issuer and acquirer decision rules: every response code comes from real ledger state.

:class:`Issuer` takes already-parsed requests (:class:`AuthRequest`, :class:`ReversalRequest`,
settlement totals) and returns a :class:`Decision`. Each call is one ledger transaction, so a
decision and its effects (balance, hold, PIN try counter, transaction row) land together.

Order of checks for a card transaction: duplicate (94: the same terminal, batch and STAN,
whatever field 13 says), late original (12: its reversal arrived first), amount (13), PAN Luhn
(14), issuer down for the BIN range (91/98...), unknown card (14), card status (41 lost,
43 stolen, 62 restricted, 57 blocked), expiry (54), PIN tries exhausted (75), PIN (55, then 75
on the third wrong try; 55 also when the card's rules need an online PIN and none came),
currency not taken by the account (13), per-transaction and daily limits (61), funds (51).

A reversal must match its original: terminal, batch and STAN find it, then the amount (else
64) and the card (else 25) must be the original's; the original stands when they do not. A
reversal of an original the host does not have is answered 00 and recorded, so that the
original, should it arrive late, is declined. Batch upload never changes the ledger: every
difference goes to the exceptions table (:mod:`posguard.host.recon`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from posguard.card import luhn_valid, mask_pan
from posguard.host import batches
from posguard.host.ledger import Account, Card, Ledger, Txn, TxnStatus, Upload
from posguard.host.recon import differences
from posguard.host.settlement import Totals
from posguard.iso8583.fields import SettlementFlag
from posguard.iso8583.operations import DEBITS, TxnKind

__all__ = ["MAX_PIN_TRIES", "AuthRequest", "Decision", "Issuer", "ReversalRequest"]

MAX_PIN_TRIES = 3
#: A completion may exceed its pre-authorisation by at most this factor (UnionPay: 115 %).
COMPLETION_TOLERANCE = 1.15


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """A card transaction as the issuer sees it. ``pin`` is the clear PIN decrypted from field 52
    by the handler (None when no PIN was entered); ``pin_format_error`` when 52 did not decrypt
    to a valid ISO 9564 format-0 block."""

    kind: TxnKind
    tid: str
    mid: str
    stan: str
    batch: str
    txn_date: str
    pan: str | None
    amount: int | None
    expiry: str | None = None
    pin: str | None = field(default=None, repr=False)
    pin_format_error: bool = False
    orig_batch: str | None = None
    orig_stan: str | None = None
    orig_date: str | None = None
    orig_rrn: str | None = None
    currency: str | None = None
    entry_mode: str = ""


@dataclass(frozen=True, slots=True)
class ReversalRequest:
    """A 0400/0401: the original is (terminal, STAN, batch), and must have ``amount`` and the
    card ``pan`` (when the reversal carries one); ``reason`` is its field 39."""

    tid: str
    stan: str
    batch: str
    amount: int | None = None
    reason: str = ""
    repeat: bool = False
    pan: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the host answers: field 39, and 37/38/54 when they apply; ``reason`` is journalled."""

    rc: str
    reason: str
    rrn: str = ""
    auth_code: str = ""
    balance: int | None = None
    txn_id: int | None = None
    totals: Totals | None = None
    #: field 48's reconciliation answer code (对账应答代码) when it is not implied by ``rc``
    settle_flag: str | None = None

    @property
    def approved(self) -> bool:
        return self.rc == "00"


class Issuer:
    """Decision rules over a :class:`Ledger`. Not thread-safe: call from one thread."""

    def __init__(self, ledger: Ledger, *, clock: Callable[[], datetime] = datetime.now) -> None:
        self.ledger = ledger
        self._clock = clock

    # -- terminal / merchant ------------------------------------------------------------------

    def check_terminal(self, tid: str, mid: str | None) -> Decision | None:
        """97 for an unknown or unregistered terminal, 03 for a wrong or inactive merchant."""
        term = self.ledger.terminal(tid)
        if term is None:
            return Decision("97", "unknown terminal")
        if not term.registered:
            return Decision("97", "terminal not registered")
        if mid is not None and mid != term.mid:
            return Decision("03", "merchant ID does not match the terminal's")
        merchant = self.ledger.merchant(term.mid)
        if merchant is None or merchant.status != "active":
            return Decision("03", "merchant not active")
        return None

    # -- card transactions --------------------------------------------------------------------

    def authorize(self, req: AuthRequest) -> Decision:
        """Decide a balance inquiry, sale, void, refund, pre-auth, pre-auth void, completion or
        completion void."""
        led = self.ledger
        with led.atomic():
            today = self._clock().date()
            day = today.isoformat()
            pan, amount = req.pan, req.amount
            # Checks that need no ledger row come first; when they pass, the duplicate check and
            # the card, account and day's spend are one query.
            early: Decision | None = None
            if req.kind is not TxnKind.BALANCE and (amount is None or amount <= 0):
                early = _NO_AMOUNT
            elif not pan or not pan.isdigit() or not luhn_valid(pan):
                early = _BAD_PAN
            else:
                down = led.unavailable_rc(pan)
                if down is not None:
                    early = Decision(down, "issuer unavailable for this BIN range")
            found: tuple[Card, Account, int] | None = None
            ref: bytes | None = None
            if early is None:
                assert pan is not None
                ref = led.refs.ref(pan)
                dup, reversed_first, found = led.card_context(
                    req.tid, req.batch, req.stan, ref, day
                )
                if found is None:
                    early = _UNKNOWN_CARD
            else:
                dup, reversed_first = led.is_duplicate(req.tid, req.batch, req.stan)
            if dup:
                return Decision("94", "duplicate transmission (terminal, batch, STAN)")
            if reversed_first:
                early = _LATE_ORIGINAL
            if early is None:
                assert found is not None
                decision, orig_id = self._decide(req, found, day, today)
            else:
                decision, orig_id = early, None
            approved = decision.rc == "00"
            rrn = led.next_rrn()
            auth = f"{secrets.randbelow(1_000_000):06d}" if approved else ""
            txn_id = led.insert_txn(
                tid=req.tid,
                mid=req.mid,
                stan=req.stan,
                batch=req.batch,
                txn_date=req.txn_date,
                host_day=day,
                kind=req.kind.value,
                account_id=found[1].id if found is not None else None,
                pan_masked=found[0].masked if found is not None else mask_pan(pan or ""),
                amount=0 if approved and req.kind is TxnKind.BALANCE else (amount or 0),
                rrn=rrn,
                auth_code=auth,
                status=TxnStatus.APPROVED if approved else TxnStatus.DECLINED,
                rc=decision.rc,
                orig_id=orig_id,
                card_ref=ref if found is not None else None,
            )
            if reversed_first:
                led.link_late_original(req.tid, req.batch, req.stan, txn_id)
            return Decision(
                decision.rc,
                decision.reason,
                rrn=rrn,
                auth_code=auth,
                balance=decision.balance,
                txn_id=txn_id,
            )

    def _today(self) -> date:
        return self._clock().date()

    def _decide(
        self, req: AuthRequest, found: tuple[Card, Account, int], day: str, today: date
    ) -> tuple[Decision, int | None]:
        """The decision for a known card (amount and PAN already checked); and the original's
        id for a follow-up."""
        card, acct, spent = found
        card_fail = self._check_card(req, card, today)
        if card_fail is not None:
            return card_fail, None
        kind = req.kind
        if kind is TxnKind.BALANCE:
            return Decision("00", "balance inquiry", balance=acct.available), None
        if req.currency is not None and not acct.takes(req.currency):
            return Decision("13", f"currency {req.currency} not taken by the account"), None
        amount = req.amount
        assert amount is not None
        if kind is TxnKind.SALE or kind is TxnKind.PREAUTH:
            if amount > acct.txn_limit:
                return _OVER_TXN_LIMIT, None
            if spent + amount > acct.daily_limit:
                return _OVER_DAILY_LIMIT, None
            if acct.balance - acct.held < amount:
                return _NO_FUNDS, None
            led = self.ledger
            if kind is TxnKind.SALE:
                led.move(acct.id, balance=-amount)
                led.add_spent(acct.id, day, amount)
                return _SALE_APPROVED, None
            led.move(acct.id, held=amount)
            return _PREAUTH_APPROVED, None
        orig = self._find_original(req)
        if orig is None:
            return Decision("25", "original transaction not found"), None
        if orig.account_id != card.account_id:
            return Decision("25", "original was made with another card"), None
        if kind is TxnKind.COMPLETION_VOID:
            orig_ref = self.ledger.card_ref_of(orig.id)
            if orig_ref is not None and orig_ref != card.ref:
                return Decision("25", "original completion was made with another card"), None
        return self._apply_follow_up(req, orig, amount), orig.id

    def _apply_follow_up(self, req: AuthRequest, orig: Txn, amount: int) -> Decision:
        led, acct = self.ledger, orig.account_id
        assert acct is not None
        kind = req.kind
        if kind is TxnKind.VOID:
            if orig.kind != TxnKind.SALE or orig.status != TxnStatus.APPROVED:
                return Decision("12", f"cannot void a {orig.kind} that is {orig.status}")
            if amount != orig.amount:
                return Decision("64", "void amount differs from the original")
            led.move(acct, balance=amount)
            led.add_spent(acct, orig.host_day, -amount)
            led.set_status(orig.id, TxnStatus.VOIDED)
            return Decision("00", "sale voided")
        if kind is TxnKind.PREAUTH_VOID:
            if orig.kind != TxnKind.PREAUTH or orig.status != TxnStatus.APPROVED:
                return Decision("12", f"cannot void a {orig.kind} that is {orig.status}")
            if amount != orig.amount:
                return Decision("64", "void amount differs from the pre-authorisation")
            led.move(acct, held=-amount)
            led.set_status(orig.id, TxnStatus.VOIDED)
            return Decision("00", "pre-authorisation voided")
        if kind is TxnKind.COMPLETION_VOID:
            return self._void_completion(orig, amount)
        if kind is TxnKind.COMPLETION:
            if orig.kind != TxnKind.PREAUTH or orig.status != TxnStatus.APPROVED:
                return Decision("12", f"cannot complete a {orig.kind} that is {orig.status}")
            if amount > orig.amount * COMPLETION_TOLERANCE:
                return Decision("13", "completion exceeds the pre-authorised amount")
            account = led.account(acct)
            assert account is not None
            if account.available + orig.amount < amount:
                return Decision("51", "insufficient funds for the completion")
            led.move(acct, balance=-amount, held=-orig.amount)
            led.add_spent(acct, self._today().isoformat(), amount)
            led.set_status(orig.id, TxnStatus.COMPLETED)
            return Decision("00", "pre-authorisation completed")
        # refund
        if orig.kind not in DEBITS or orig.status != TxnStatus.APPROVED:
            return Decision("12", f"cannot refund a {orig.kind} that is {orig.status}")
        if amount > orig.amount - orig.refunded:
            return Decision("13", "refund exceeds what is left of the original")
        led.move(acct, balance=amount)
        led.add_refunded(orig.id, amount)
        return Decision("00", "refund accepted")

    def _void_completion(self, orig: Txn, amount: int) -> Decision:
        """Void of a pre-auth completion (0200, 60.1 = 21): the completion's amount goes back
        to the account and the pre-authorisation stands again as it was before it was completed
        (its hold back in place: it may be completed again, or voided), exactly what a reversal
        of the completion undoes."""
        led, acct = self.ledger, orig.account_id
        assert acct is not None
        if orig.kind != TxnKind.COMPLETION or orig.status != TxnStatus.APPROVED:
            return Decision("12", f"cannot void a {orig.kind} that is {orig.status}")
        if amount != orig.amount:
            return Decision("64", "void amount differs from the completion")
        led.move(acct, balance=amount)
        led.add_spent(acct, orig.host_day, -amount)
        led.set_status(orig.id, TxnStatus.VOIDED)
        if orig.orig_id is not None:
            preauth = led.txn(orig.orig_id)
            if preauth is not None and preauth.status == TxnStatus.COMPLETED:
                led.move(acct, held=preauth.amount)
                led.set_status(preauth.id, TxnStatus.APPROVED)
        return Decision("00", "pre-authorisation completion voided")

    def _check_card(self, req: AuthRequest, card: Card, today: date) -> Decision | None:
        """A decline for a known card (status, expiry, PIN), or None."""
        status_rc = _STATUS_RC.get(card.status)
        if status_rc is not None:
            return Decision(status_rc, f"card {card.status}")
        if _expired(card.expiry, today) or (req.expiry and req.expiry != card.expiry):
            return Decision("54", "card expired or expiry does not match")
        if req.kind in _NO_PIN_KINDS:
            return None  # follow-ups need no PIN
        if card.pin_tries >= MAX_PIN_TRIES:
            return Decision("75", "PIN tries exceeded")
        if req.pin_format_error:
            return Decision("99", "PIN block does not decrypt to a format-0 block")
        if req.pin is not None:
            if not self.ledger.verify_pin(card, req.pin):
                tries = card.pin_tries + 1
                self.ledger.set_pin_tries(card.ref, tries)
                if tries >= MAX_PIN_TRIES:
                    return Decision("75", "wrong PIN, tries now exhausted")
                return Decision("55", f"wrong PIN ({tries} of {MAX_PIN_TRIES})")
            if card.pin_tries:
                self.ledger.set_pin_tries(card.ref, 0)
        elif _needs_online_pin(card.online_pin, req.entry_mode):
            return Decision("55", f"online PIN required (card rule {card.online_pin})")
        return None

    def _find_original(self, req: AuthRequest) -> Txn | None:
        if req.orig_stan and req.orig_batch:
            orig = self.ledger.find_txn(req.tid, req.orig_stan, req.orig_batch)
            if orig is not None and (not req.orig_date or orig.txn_date == req.orig_date):
                return orig
        if req.orig_rrn:
            return self.ledger.find_by_rrn(req.tid, req.orig_rrn)
        return None

    # -- reversal -----------------------------------------------------------------------------

    def reverse(self, req: ReversalRequest) -> Decision:
        """Undo the transaction (terminal, STAN, batch) once, when the amount and the card are
        the original's (else 64 / 25, and the original stands). Already reversed: ``00``, nothing
        changes (a repeat 0401 is harmless). Unknown: ``00``, and the reversal is recorded so the
        original is declined if it arrives late."""
        led = self.ledger
        with led.atomic():
            orig = led.find_txn(req.tid, req.stan, req.batch)
            why = f" (reason {req.reason}{', repeat' if req.repeat else ''})"
            ref = led.refs.ref(req.pan) if req.pan else None
            if orig is None:
                led.record_early_reversal(req.tid, req.batch, req.stan, req.amount, ref, req.reason)
                return Decision("00", "reversal before its original: recorded" + why)
            if req.amount is not None and req.amount != orig.amount:
                return Decision(
                    "64",
                    f"reversal amount {req.amount} is not the original's {orig.amount}" + why,
                    txn_id=orig.id,
                )
            if ref is not None:
                orig_ref = led.card_ref_of(orig.id)
                if orig_ref is not None and orig_ref != ref:
                    return Decision("25", "reversal carries another card than the original" + why)
            if orig.status == TxnStatus.REVERSED:
                return Decision("00", "already reversed: nothing to undo" + why, txn_id=orig.id)
            self._undo(orig)
            return Decision("00", f"{orig.kind} reversed{why}", rrn=orig.rrn, txn_id=orig.id)

    def _undo(self, orig: Txn) -> None:
        led, acct = self.ledger, orig.account_id
        effective = orig.status in (TxnStatus.APPROVED, TxnStatus.COMPLETED)
        if effective and acct is not None:
            kind = TxnKind(orig.kind)
            if kind is TxnKind.SALE:
                led.move(acct, balance=orig.amount)
                led.add_spent(acct, orig.host_day, -orig.amount)
            elif kind is TxnKind.PREAUTH and orig.status == TxnStatus.APPROVED:
                led.move(acct, held=-orig.amount)
            elif kind is TxnKind.REFUND:
                led.move(acct, balance=-orig.amount)
                if orig.orig_id is not None:
                    led.add_refunded(orig.orig_id, -orig.amount)
            elif orig.orig_id is not None:
                base = led.txn(orig.orig_id)
                assert base is not None
                if kind is TxnKind.VOID:
                    led.move(acct, balance=-orig.amount)
                    led.add_spent(acct, base.host_day, orig.amount)
                elif kind is TxnKind.PREAUTH_VOID:
                    led.move(acct, held=orig.amount)
                elif kind is TxnKind.COMPLETION:
                    led.move(acct, balance=orig.amount, held=base.amount)
                    led.add_spent(acct, orig.host_day, -orig.amount)
                elif kind is TxnKind.COMPLETION_VOID:
                    self._redo_completion(base)
                led.set_status(base.id, TxnStatus.APPROVED)
        led.set_status(orig.id, TxnStatus.REVERSED)

    def _redo_completion(self, completion: Txn) -> None:
        """Undo a completion void: the completion charges again and its pre-authorisation is
        completed again (its hold released), as before the void."""
        led, acct = self.ledger, completion.account_id
        assert acct is not None
        led.move(acct, balance=-completion.amount)
        led.add_spent(acct, completion.host_day, completion.amount)
        if completion.orig_id is not None:
            preauth = led.txn(completion.orig_id)
            if preauth is not None and preauth.status == TxnStatus.APPROVED:
                led.move(acct, held=-preauth.amount)
                led.set_status(preauth.id, TxnStatus.COMPLETED)

    # -- settlement and batch upload ----------------------------------------------------------

    def host_totals(self, tid: str, batch: str) -> Totals:
        """Debits (sales + completions still standing) and credits (refunds) of a batch."""
        return Totals.of(self.ledger.batch_txns(tid, batch))

    def settle(self, tid: str, batch: str, terminal: Totals) -> Decision:
        """0500: compare the terminal's totals with the ledger's; ``00`` balanced (the batch is
        closed: :func:`batches.close`), ``95`` not (it stays open for the batch upload, which
        starts afresh: uploads of an earlier round are dropped)."""
        with self.ledger.atomic():
            host = self.host_totals(tid, batch)
            balanced = host == terminal
            self.ledger.record_settlement(tid, batch, terminal.encode(), host.encode(), balanced)
            self.ledger.clear_uploads(tid, batch)
            if balanced:
                following = batches.close(self.ledger, tid, batch)
                closed = f"; batch closed, next {following}" if following else ""
                return Decision("00", "settlement in balance" + closed, totals=host)
            return Decision("95", f"out of balance: host {host}, terminal {terminal}", totals=host)

    def upload(
        self, tid: str, batch: str, kind: TxnKind, stan: str, amount: int, pan: str | None
    ) -> Decision:
        """0320 (60.3 201): remember one transaction as the terminal has it."""
        with self.ledger.atomic():
            ref = self.ledger.refs.ref(pan) if pan else None
            self.ledger.record_upload(
                tid, batch, Upload(stan, kind.value, amount, ref, mask_pan(pan or ""))
            )
            return Decision("00", f"batch upload of {kind.value} STAN {stan} recorded")

    def end_upload(self, tid: str, batch: str) -> Decision:
        """End of upload (0320, 60.3 202): compare the upload with the ledger's batch. The ledger is
        never changed: every difference is recorded for exception handling (差错处理), and the
        answer is ``00`` (the batch is closed) with field 48's reconciliation code ``1`` in
        balance or ``2`` not in balance. A repeated end of upload (its answer was lost) is
        answered the same and changes nothing: the uploads stay until the next 0500."""
        with self.ledger.atomic():
            led = self.ledger
            settled = led.settlement(tid, batch)
            if settled is None:
                return Decision("12", "batch upload without a settlement request")
            if led.upload_ended(tid, batch):
                balanced = settled[2]
                return Decision(
                    "00",
                    "repeated end of batch upload: answered as before, nothing recorded",
                    totals=self.host_totals(tid, batch),
                    settle_flag=(
                        SettlementFlag.BALANCED if balanced else SettlementFlag.OUT_OF_BALANCE
                    ),
                )
            diffs = differences(tid, batch, led.batch_txns(tid, batch), led.uploads(tid, batch))
            new = sum(led.record_exception(d) for d in diffs)
            host = self.host_totals(tid, batch)
            terminal = Totals.decode(settled[0])
            balanced = host == terminal and not diffs
            led.record_settlement(
                tid, batch, settled[0], host.encode(), balanced, upload_ended=True
            )
            following = batches.close(led, tid, batch)
            closed = f"; batch closed, next {following}" if following else ""
            if balanced:
                return Decision(
                    "00",
                    "batch upload: in balance" + closed,
                    totals=host,
                    settle_flag=SettlementFlag.BALANCED,
                )
            return Decision(
                "00",
                f"batch upload: not in balance (host {host}, terminal {terminal}); "
                f"{len(diffs)} differences for exception handling ({new} new){closed}",
                totals=host,
                settle_flag=SettlementFlag.OUT_OF_BALANCE,
            )


_STATUS_RC = {"lost": "41", "stolen": "43", "restricted": "62", "blocked": "57"}
_NO_PIN_KINDS = frozenset(
    {
        TxnKind.REFUND,
        TxnKind.COMPLETION,
        TxnKind.COMPLETION_VOID,
        TxnKind.PREAUTH_VOID,
        TxnKind.VOID,
    }
)
# Decisions that carry nothing per request, made once (Decision is frozen).
_NO_AMOUNT = Decision("13", "amount missing or zero")
_BAD_PAN = Decision("14", "card number invalid (format or Luhn)")
_UNKNOWN_CARD = Decision("14", "card unknown to the issuer")
_OVER_TXN_LIMIT = Decision("61", "over the per-transaction limit")
_OVER_DAILY_LIMIT = Decision("61", "over the daily limit")
_NO_FUNDS = Decision("51", "insufficient funds")
_SALE_APPROVED = Decision("00", "sale approved")
_LATE_ORIGINAL = Decision("12", "late original: the terminal reversed it before it arrived")
_PREAUTH_APPROVED = Decision("00", "preauth approved")


# Entry modes (field 22, first two digits) that count as contact: magnetic stripe (02, 90),
# fallback to stripe (80), contact chip (05).
_CONTACT_ENTRY = frozenset({"02", "05", "80", "90"})


def _needs_online_pin(rule: str, entry_mode: str) -> bool:
    """Whether a card with online-PIN ``rule`` needs field 52 for this entry mode."""
    if rule == "always":
        return True
    return rule == "contact" and entry_mode[:2] in _CONTACT_ENTRY


def _expired(yymm: str, today: date) -> bool:
    year, month = 2000 + int(yymm[:2]), int(yymm[2:])
    return (year, month) < (today.year, today.month)
