"""The issuer's rules for card transactions and reversals, as pure functions: each takes the
request, the rows it is about (card, account, the day's spend, the original transaction) and
the day, and returns a :class:`~posguard.host.decisions.Decision` plus its effects as values.
Nothing here reads or writes the ledger; follow-ups read their original through a
:class:`TxnReader` (the ledger, or a dict in a test).

Order of checks for a card transaction (the duplicate and late-original checks are the
ledger's, :class:`~posguard.host.issuer.Issuer`): amount (13), PAN Luhn (14), issuer down for
the BIN range (91/98...), unknown card (14), card status (41 lost, 43 stolen, 62 restricted,
57 blocked), expiry (54), PIN tries exhausted (75), PIN (55, then 75 on the third wrong try;
55 also when the card's rules need an online PIN and none came), currency not taken by the
account (13), per-transaction and daily limits (61), funds (51).

A reversal must match its original: the amount (else 64) and the card (else 25) must be the
original's; the original stands when they do not.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import date
from typing import Protocol

from posguard.card import luhn_valid
from posguard.host.decisions import (
    AuthRequest,
    Decision,
    Effect,
    Move,
    PinTries,
    Refunded,
    ReversalRequest,
    SetStatus,
    Spend,
)
from posguard.host.ledger import Account, Card, Txn, TxnStatus, hash_pin
from posguard.iso8583.operations import DEBITS, TxnKind

__all__ = [
    "COMPLETION_TOLERANCE",
    "MAX_PIN_TRIES",
    "TxnReader",
    "check_card",
    "decide_card",
    "match_reversal",
    "pin_matches",
    "screen",
    "undo",
]

MAX_PIN_TRIES = 3
#: A completion may exceed its pre-authorisation by at most this factor (UnionPay: 115 %).
COMPLETION_TOLERANCE = 1.15

Effects = list[Effect]


class TxnReader(Protocol):
    """What follow-ups and reversals read of the ledger's transactions."""

    def txn(self, txn_id: int) -> Txn | None: ...

    def find_txn(self, tid: str, stan: str, batch: str) -> Txn | None: ...

    def find_by_rrn(self, tid: str, rrn: str) -> Txn | None: ...

    def card_ref_of(self, txn_id: int) -> bytes | None: ...

    def account(self, account_id: str) -> Account | None: ...


def pin_matches(card: Card, pin: str) -> bool:
    """Whether ``pin`` is the card's PIN (its salted hash, compared in constant time)."""
    return hmac.compare_digest(hash_pin(pin, card.pin_salt), card.pin_hash)


# -- before the card is looked up ------------------------------------------------------------


def screen(req: AuthRequest, unavailable_rc: Callable[[str], str | None]) -> Decision | None:
    """Declines that need no ledger row: amount missing (13), card number malformed or not
    Luhn-valid (14), the BIN range's issuer down (``unavailable_rc``: 91/92/98)."""
    amount, pan = req.amount, req.pan
    if req.kind is not TxnKind.BALANCE and (amount is None or amount <= 0):
        return _NO_AMOUNT
    if not pan or not luhn_valid(pan):
        return _BAD_PAN
    down = unavailable_rc(pan)
    if down is not None:
        return Decision(down, "issuer unavailable for this BIN range")
    return None


# -- a known card -----------------------------------------------------------------------------


def check_card(
    req: AuthRequest,
    card: Card,
    today: date,
    matches: Callable[[Card, str], bool] = pin_matches,
) -> tuple[Decision | None, Effects]:
    """A decline for a known card (status, expiry, PIN) or None, and the change to its count of
    wrong PINs (counted up on a wrong PIN, back to 0 on a right one)."""
    status_rc = _STATUS_RC.get(card.status)
    if status_rc is not None:
        return Decision(status_rc, f"card {card.status}"), []
    if _expired(card.expiry, today) or (req.expiry and req.expiry != card.expiry):
        return _EXPIRED, []
    if req.kind in _NO_PIN_KINDS:
        return None, []  # follow-ups need no PIN
    if card.pin_tries >= MAX_PIN_TRIES:
        return _PIN_TRIES_EXCEEDED, []
    if req.pin_format_error:
        return _PIN_BLOCK_BAD, []
    if req.pin is not None:
        if not matches(card, req.pin):
            tries = card.pin_tries + 1
            effects: Effects = [PinTries(card.ref, tries)]
            if tries >= MAX_PIN_TRIES:
                return Decision("75", "wrong PIN, tries now exhausted"), effects
            return Decision("55", f"wrong PIN ({tries} of {MAX_PIN_TRIES})"), effects
        return None, [PinTries(card.ref, 0)] if card.pin_tries else []
    if _needs_online_pin(card.online_pin, req.entry_mode):
        return Decision("55", f"online PIN required (card rule {card.online_pin})"), []
    return None, []


def decide_card(
    req: AuthRequest,
    card: Card,
    acct: Account,
    spent: int,
    today: date,
    reader: TxnReader,
    matches: Callable[[Card, str], bool] = pin_matches,
) -> tuple[Decision, Effects, int | None]:
    """The decision for a known card (amount and PAN already screened), its effects, and the
    original's id for a follow-up. ``spent``: the account's approved debits on ``today``."""
    fail, effects = check_card(req, card, today, matches)
    if fail is not None:
        return fail, effects, None
    kind = req.kind
    if kind is TxnKind.BALANCE:
        return Decision("00", "balance inquiry", balance=acct.available), effects, None
    if req.currency is not None and not acct.takes(req.currency):
        return Decision("13", f"currency {req.currency} not taken by the account"), effects, None
    amount = req.amount
    assert amount is not None
    if kind is TxnKind.SALE or kind is TxnKind.PREAUTH:
        if amount > acct.txn_limit:
            return _OVER_TXN_LIMIT, effects, None
        if spent + amount > acct.daily_limit:
            return _OVER_DAILY_LIMIT, effects, None
        if acct.balance - acct.held < amount:
            return _NO_FUNDS, effects, None
        if kind is TxnKind.SALE:
            effects += (Move(acct.id, balance=-amount), Spend(acct.id, today.isoformat(), amount))
            return _SALE_APPROVED, effects, None
        effects.append(Move(acct.id, held=amount))
        return _PREAUTH_APPROVED, effects, None
    orig = _find_original(req, reader)
    if orig is None:
        return Decision("25", "original transaction not found"), effects, None
    if orig.account_id != card.account_id:
        return Decision("25", "original was made with another card"), effects, None
    if kind is TxnKind.COMPLETION_VOID:
        orig_ref = reader.card_ref_of(orig.id)
        if orig_ref is not None and orig_ref != card.ref:
            return (
                Decision("25", "original completion was made with another card"),
                effects,
                None,
            )
    decision, more = _follow_up(req, orig, amount, today, reader)
    return decision, effects + more, orig.id


def _find_original(req: AuthRequest, reader: TxnReader) -> Txn | None:
    if req.orig_stan and req.orig_batch:
        orig = reader.find_txn(req.tid, req.orig_stan, req.orig_batch)
        if orig is not None and (not req.orig_date or orig.txn_date == req.orig_date):
            return orig
    if req.orig_rrn:
        return reader.find_by_rrn(req.tid, req.orig_rrn)
    return None


def _follow_up(
    req: AuthRequest, orig: Txn, amount: int, today: date, reader: TxnReader
) -> tuple[Decision, Effects]:
    """Void, pre-auth void, completion, completion void or refund of ``orig``."""
    acct = orig.account_id
    assert acct is not None
    kind = req.kind
    if kind is TxnKind.VOID:
        if orig.kind != TxnKind.SALE or orig.status != TxnStatus.APPROVED:
            return Decision("12", f"cannot void a {orig.kind} that is {orig.status}"), []
        if amount != orig.amount:
            return Decision("64", "void amount differs from the original"), []
        return Decision("00", "sale voided"), [
            Move(acct, balance=amount),
            Spend(acct, orig.host_day, -amount),
            SetStatus(orig.id, TxnStatus.VOIDED),
        ]
    if kind is TxnKind.PREAUTH_VOID:
        if orig.kind != TxnKind.PREAUTH or orig.status != TxnStatus.APPROVED:
            return Decision("12", f"cannot void a {orig.kind} that is {orig.status}"), []
        if amount != orig.amount:
            return Decision("64", "void amount differs from the pre-authorisation"), []
        return Decision("00", "pre-authorisation voided"), [
            Move(acct, held=-amount),
            SetStatus(orig.id, TxnStatus.VOIDED),
        ]
    if kind is TxnKind.COMPLETION_VOID:
        return _void_completion(orig, amount, reader)
    if kind is TxnKind.COMPLETION:
        if orig.kind != TxnKind.PREAUTH or orig.status != TxnStatus.APPROVED:
            return Decision("12", f"cannot complete a {orig.kind} that is {orig.status}"), []
        if amount > orig.amount * COMPLETION_TOLERANCE:
            return Decision("13", "completion exceeds the pre-authorised amount"), []
        account = reader.account(acct)
        assert account is not None
        if account.available + orig.amount < amount:
            return Decision("51", "insufficient funds for the completion"), []
        return Decision("00", "pre-authorisation completed"), [
            Move(acct, balance=-amount, held=-orig.amount),
            Spend(acct, today.isoformat(), amount),
            SetStatus(orig.id, TxnStatus.COMPLETED),
        ]
    # refund
    if orig.kind not in DEBITS or orig.status != TxnStatus.APPROVED:
        return Decision("12", f"cannot refund a {orig.kind} that is {orig.status}"), []
    if amount > orig.amount - orig.refunded:
        return Decision("13", "refund exceeds what is left of the original"), []
    return Decision("00", "refund accepted"), [
        Move(acct, balance=amount),
        Refunded(orig.id, amount),
    ]


def _void_completion(orig: Txn, amount: int, reader: TxnReader) -> tuple[Decision, Effects]:
    """Void of a pre-auth completion (0200, 60.1 = 21): the completion's amount goes back to the
    account and the pre-authorisation stands again as it was before it was completed (its hold
    back in place: it may be completed again, or voided), exactly what a reversal of the
    completion undoes."""
    acct = orig.account_id
    assert acct is not None
    if orig.kind != TxnKind.COMPLETION or orig.status != TxnStatus.APPROVED:
        return Decision("12", f"cannot void a {orig.kind} that is {orig.status}"), []
    if amount != orig.amount:
        return Decision("64", "void amount differs from the completion"), []
    effects: Effects = [
        Move(acct, balance=amount),
        Spend(acct, orig.host_day, -amount),
        SetStatus(orig.id, TxnStatus.VOIDED),
    ]
    if orig.orig_id is not None:
        preauth = reader.txn(orig.orig_id)
        if preauth is not None and preauth.status == TxnStatus.COMPLETED:
            effects += (Move(acct, held=preauth.amount), SetStatus(preauth.id, TxnStatus.APPROVED))
    return Decision("00", "pre-authorisation completion voided"), effects


# -- reversals --------------------------------------------------------------------------------


def match_reversal(
    req: ReversalRequest, orig: Txn, orig_ref: bytes | None, ref: bytes | None, reader: TxnReader
) -> tuple[Decision, Effects]:
    """A reversal of the known ``orig``: 64 when the amount differs, 25 when it carries another
    card (``ref``, against the original's ``orig_ref``), ``00`` and nothing to do when already
    reversed, else ``00`` and the effects that undo the original."""
    why = f" (reason {req.reason}{', repeat' if req.repeat else ''})"
    if req.amount is not None and req.amount != orig.amount:
        return Decision(
            "64",
            f"reversal amount {req.amount} is not the original's {orig.amount}" + why,
            txn_id=orig.id,
        ), []
    if ref is not None and orig_ref is not None and orig_ref != ref:
        return Decision("25", "reversal carries another card than the original" + why), []
    if orig.status == TxnStatus.REVERSED:
        return Decision("00", "already reversed: nothing to undo" + why, txn_id=orig.id), []
    effects = undo(orig, reader)
    return Decision("00", f"{orig.kind} reversed{why}", rrn=orig.rrn, txn_id=orig.id), effects


def undo(orig: Txn, reader: TxnReader) -> Effects:
    """What reversing ``orig`` changes: its money back where it was, and the transaction it
    followed up (if any) as it stood before; ``orig`` itself becomes reversed."""
    acct = orig.account_id
    effects: Effects = []
    effective = orig.status in (TxnStatus.APPROVED, TxnStatus.COMPLETED)
    if effective and acct is not None:
        kind = TxnKind(orig.kind)
        if kind is TxnKind.SALE:
            effects += (Move(acct, balance=orig.amount), Spend(acct, orig.host_day, -orig.amount))
        elif kind is TxnKind.PREAUTH and orig.status == TxnStatus.APPROVED:
            effects.append(Move(acct, held=-orig.amount))
        elif kind is TxnKind.REFUND:
            effects.append(Move(acct, balance=-orig.amount))
            if orig.orig_id is not None:
                effects.append(Refunded(orig.orig_id, -orig.amount))
        elif orig.orig_id is not None:
            base = reader.txn(orig.orig_id)
            assert base is not None
            if kind is TxnKind.VOID:
                effects += (
                    Move(acct, balance=-orig.amount),
                    Spend(acct, base.host_day, orig.amount),
                )
            elif kind is TxnKind.PREAUTH_VOID:
                effects.append(Move(acct, held=orig.amount))
            elif kind is TxnKind.COMPLETION:
                effects += (
                    Move(acct, balance=orig.amount, held=base.amount),
                    Spend(acct, orig.host_day, -orig.amount),
                )
            elif kind is TxnKind.COMPLETION_VOID:
                effects += _redo_completion(base, reader)
            effects.append(SetStatus(base.id, TxnStatus.APPROVED))
    effects.append(SetStatus(orig.id, TxnStatus.REVERSED))
    return effects


def _redo_completion(completion: Txn, reader: TxnReader) -> Effects:
    """Undo a completion void: the completion charges again and its pre-authorisation is
    completed again (its hold released), as before the void."""
    acct = completion.account_id
    assert acct is not None
    effects: Effects = [
        Move(acct, balance=-completion.amount),
        Spend(acct, completion.host_day, completion.amount),
    ]
    if completion.orig_id is not None:
        preauth = reader.txn(completion.orig_id)
        if preauth is not None and preauth.status == TxnStatus.APPROVED:
            effects += (
                Move(acct, held=-preauth.amount),
                SetStatus(preauth.id, TxnStatus.COMPLETED),
            )
    return effects


# -- tables -----------------------------------------------------------------------------------

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
# Decisions that carry nothing per request, made once and shared (never changed).
_NO_AMOUNT = Decision("13", "amount missing or zero")
_BAD_PAN = Decision("14", "card number invalid (format or Luhn)")
_EXPIRED = Decision("54", "card expired or expiry does not match")
_PIN_TRIES_EXCEEDED = Decision("75", "PIN tries exceeded")
_PIN_BLOCK_BAD = Decision("99", "PIN block does not decrypt to a format-0 block")
_OVER_TXN_LIMIT = Decision("61", "over the per-transaction limit")
_OVER_DAILY_LIMIT = Decision("61", "over the daily limit")
_NO_FUNDS = Decision("51", "insufficient funds")
_SALE_APPROVED = Decision("00", "sale approved")
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
