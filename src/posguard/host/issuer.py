"""Issuer and acquirer decision rules: every response code comes from real ledger state.

:class:`Issuer` takes already-parsed requests (:class:`AuthRequest`, :class:`ReversalRequest`,
settlement totals) and returns a :class:`Decision`. It reads what a rule needs, lets the pure
rules of :mod:`posguard.host.card_rules` decide, and applies the decision and its effects in
one ledger transaction, so a decision and its effects (balance, hold, PIN try counter,
transaction row) land together.

A card transaction is checked for a duplicate (94: the same terminal, batch and STAN, whatever
field 13 says) by the insert of its row, and for a late original (12: its reversal arrived
first) before the rules of :mod:`posguard.host.card_rules` run; its effects are written only
once its row is.

A reversal of an original the host does not have is answered 00 and recorded, so that the
original, should it arrive late, is declined. Batch upload never changes the ledger: every
difference goes to the exceptions table (:mod:`posguard.host.recon`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime

from posguard.card import mask_pan
from posguard.host import card_rules, settle_flow
from posguard.host.card_rules import MAX_PIN_TRIES
from posguard.host.decisions import AuthRequest, Decision, Effect, ReversalRequest
from posguard.host.ledger import Ledger, TxnStatus
from posguard.host.settlement import Totals
from posguard.iso8583.operations import TxnKind

__all__ = ["MAX_PIN_TRIES", "AuthRequest", "Decision", "Issuer", "ReversalRequest"]


class Issuer:
    """Decision rules over a :class:`Ledger`. Not thread-safe: call from one thread."""

    def __init__(self, ledger: Ledger, *, clock: Callable[[], datetime] = datetime.now) -> None:
        self.ledger = ledger
        self._clock = clock
        self._random = b""
        self._random_at = 0  # next unused offset in _random

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
        with led.decision():
            today = self._today()
            day = today.isoformat()
            decision = card_rules.screen(req, led.unavailable_rc)
            found = None
            ref: bytes | None = None
            if decision is None:
                assert req.pan is not None
                ref = led.refs.ref(req.pan)
                found = led.card_facts(ref, day)
                if found is None:
                    decision = _UNKNOWN_CARD
            late = led.reversed_first(req.tid, req.batch, req.stan)
            effects: list[Effect] = []
            orig_id: int | None = None
            if late:
                decision = _LATE_ORIGINAL
            elif decision is None:
                assert found is not None
                card, acct, spent = found
                decision, effects, orig_id = card_rules.decide_card(
                    req, card, acct, spent, today, led
                )
            approved = decision.rc == "00"
            rrn = led.next_rrn()
            auth = self._auth_code() if approved else ""
            txn_id = led.insert_txn(
                tid=req.tid,
                mid=req.mid,
                stan=req.stan,
                batch=req.batch,
                txn_date=req.txn_date,
                host_day=day,
                kind=req.kind.value,
                account_id=found[1].id if found is not None else None,
                pan_masked=found[0].masked if found is not None else mask_pan(req.pan or ""),
                amount=0 if approved and req.kind is TxnKind.BALANCE else (req.amount or 0),
                rrn=rrn,
                auth_code=auth,
                status=TxnStatus.APPROVED if approved else TxnStatus.DECLINED,
                rc=decision.rc,
                orig_id=orig_id,
                card_ref=ref if found is not None else None,
            )
            if txn_id is None:  # the row exists: a repeat changes nothing
                led.unuse_rrn(rrn)
                return _DUPLICATE
            led.apply(effects)
            if late:
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

    def _auth_code(self) -> str:
        """A random 6-digit approval code (field 38), from a buffer of OS randomness."""
        while True:
            at = self._random_at
            if at + 4 > len(self._random):
                self._random, at = os.urandom(4096), 0
            self._random_at = at + 4
            value = int.from_bytes(self._random[at : at + 4], "big")
            if value < _AUTH_CODE_LIMIT:  # no modulo bias
                return f"{value % 1_000_000:06d}"

    # -- reversal -----------------------------------------------------------------------------

    def reverse(self, req: ReversalRequest) -> Decision:
        """Undo the transaction (terminal, STAN, batch) once, when the amount and the card are
        the original's (else 64 / 25, and the original stands). Already reversed: ``00``, nothing
        changes (a repeat 0401 is harmless). Unknown: ``00``, and the reversal is recorded so the
        original is declined if it arrives late."""
        led = self.ledger
        with led.atomic():
            orig = led.find_txn(req.tid, req.stan, req.batch)
            ref = led.refs.ref(req.pan) if req.pan else None
            if orig is None:
                led.record_early_reversal(req.tid, req.batch, req.stan, req.amount, ref, req.reason)
                why = f" (reason {req.reason}{', repeat' if req.repeat else ''})"
                return Decision("00", "reversal before its original: recorded" + why)
            orig_ref = led.card_ref_of(orig.id) if ref is not None else None
            decision, effects = card_rules.match_reversal(req, orig, orig_ref, ref, led)
            led.apply(effects)
            return decision

    # -- settlement and batch upload (:mod:`posguard.host.settle_flow`) ------------------------

    def host_totals(self, tid: str, batch: str) -> Totals:
        """Debits (sales + completions still standing) and credits (refunds) of a batch."""
        return settle_flow.host_totals(self.ledger, tid, batch)

    def settle(self, tid: str, batch: str, terminal: Totals) -> Decision:
        """0500: :func:`posguard.host.settle_flow.settle`."""
        return settle_flow.settle(self.ledger, tid, batch, terminal)

    def upload(
        self, tid: str, batch: str, kind: TxnKind, stan: str, amount: int, pan: str | None
    ) -> Decision:
        """0320 (60.3 201): :func:`posguard.host.settle_flow.upload`."""
        return settle_flow.upload(self.ledger, tid, batch, kind, stan, amount, pan)

    def end_upload(self, tid: str, batch: str) -> Decision:
        """End of upload (0320, 60.3 202): :func:`posguard.host.settle_flow.end_upload`."""
        return settle_flow.end_upload(self.ledger, tid, batch)


# Decisions that carry nothing per request, made once and shared (never changed).
_UNKNOWN_CARD = Decision("14", "card unknown to the issuer")
_LATE_ORIGINAL = Decision("12", "late original: the terminal reversed it before it arrived")
_DUPLICATE = Decision("94", "duplicate transmission (terminal, batch, STAN)")
# The largest multiple of 1,000,000 below 2**32: approval codes are drawn below it.
_AUTH_CODE_LIMIT = (2**32 // 1_000_000) * 1_000_000
