"""The issuer's rules on their own: no socket, no SQLite. The pure rules
(:mod:`posguard.host.card_rules`) get rows as values and return a decision plus its effects;
:class:`~posguard.host.issuer.Issuer` runs them over an in-memory ledger that keeps only what
the issuer uses (the late original after its reversal, and reversal matching by terminal,
batch and STAN, then amount and card). The same rules over real sockets and SQLite are in
test_issuer_rules.py, test_books.py and test_reversal_settlement.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from typing import cast

import pytest

from posguard.host import card_rules
from posguard.host.decisions import (
    AuthRequest,
    Effect,
    Move,
    PinTries,
    ReversalRequest,
    SetStatus,
    Spend,
)
from posguard.host.issuer import Issuer
from posguard.host.ledger import Account, Card, Ledger, Txn, TxnStatus
from posguard.host.request_checks import bad_datetime
from posguard.iso8583.operations import TxnKind, classify

TODAY = date(2026, 11, 25)
PAN = "6214830000000017"  # Luhn-valid
OTHER_PAN = "6214830000000025"
REF, OTHER_REF = b"ref-1", b"ref-2"
SALT = b"salt"


def _card(**changes: object) -> Card:
    card = Card(REF, "621483******0017", "ACC", "2912", "active", 0, SALT, b"", online_pin="never")
    return replace(card, **changes)  # type: ignore[arg-type]


ACCT = Account("ACC", "Li", 10_000, 0, 5_000, 3_000, currency="156")


def _req(kind: TxnKind = TxnKind.SALE, **changes: object) -> AuthRequest:
    req = AuthRequest(kind, "10000001", "898310048160001", "000007", "000001", "1125", PAN, 100)
    return replace(req, **changes)  # type: ignore[arg-type]


def _pin_is(right: str):  # type: ignore[no-untyped-def]
    return lambda _card, pin: pin == right


class NoTxns:
    """A reader with no transactions (new transactions never read one)."""

    def txn(self, txn_id: int) -> Txn | None:
        return None

    def find_txn(self, tid: str, stan: str, batch: str) -> Txn | None:
        return None

    def find_by_rrn(self, tid: str, rrn: str) -> Txn | None:
        return None

    def card_ref_of(self, txn_id: int) -> bytes | None:
        return None

    def account(self, account_id: str) -> Account | None:
        return ACCT


def _decide(req: AuthRequest, card: Card | None = None, spent: int = 0) -> tuple[str, list[Effect]]:
    decision, effects, _orig = card_rules.decide_card(
        req, card or _card(), ACCT, spent, TODAY, NoTxns(), _pin_is("1234")
    )
    return decision.rc, effects


# -- pure rules -------------------------------------------------------------------------------


def test_a_sale_debits_the_account_and_counts_toward_the_day() -> None:
    assert _decide(_req(amount=250)) == (
        "00",
        [Move("ACC", balance=-250), Spend("ACC", "2026-11-25", 250)],
    )


@pytest.mark.parametrize(
    ("req", "card", "spent", "rc"),
    [
        (_req(amount=3_001), _card(), 0, "61"),  # per-transaction limit
        (_req(amount=1_000), _card(), 4_500, "61"),  # daily limit
        (_req(currency="840"), _card(), 0, "13"),  # a currency the account does not take
        (_req(), _card(status="lost"), 0, "41"),
        (_req(), _card(status="stolen"), 0, "43"),
        (_req(), _card(expiry="2510"), 0, "54"),  # expired before November 2026
        (_req(expiry="2911"), _card(), 0, "54"),  # field 14 is not the card's
        (_req(), _card(pin_tries=3), 0, "75"),
        (_req(pin_format_error=True), _card(), 0, "99"),
    ],
)
def test_declines_change_nothing(req: AuthRequest, card: Card, spent: int, rc: str) -> None:
    assert _decide(req, card, spent) == (rc, [])


def test_funds_are_balance_less_holds() -> None:
    held = replace(ACCT, held=9_950)
    decision, effects, _ = card_rules.decide_card(
        _req(amount=100), _card(), held, 0, TODAY, NoTxns()
    )
    assert (decision.rc, effects) == ("51", [])


@pytest.mark.parametrize("entry", ["021", "051", "901", "801"])
def test_online_pin_required_on_contact_entries(entry: str) -> None:
    card = _card(online_pin="contact")
    assert _decide(_req(entry_mode=entry), card) == ("55", [])
    assert _decide(_req(entry_mode=entry, pin="1234"), card)[0] == "00"


def test_online_pin_not_required_contactless_unless_always() -> None:
    assert _decide(_req(entry_mode="071"), _card(online_pin="contact"))[0] == "00"
    assert _decide(_req(entry_mode="071"), _card(online_pin="always")) == ("55", [])


def test_wrong_pins_count_up_to_75_and_a_right_one_resets() -> None:
    assert _decide(_req(pin="0000")) == ("55", [PinTries(REF, 1)])
    assert _decide(_req(pin="0000"), _card(pin_tries=2)) == ("75", [PinTries(REF, 3)])
    rc, effects = _decide(_req(pin="1234"), _card(pin_tries=2))
    assert rc == "00"
    assert effects[0] == PinTries(REF, 0)


def test_screen_amount_pan_and_issuer_down_before_any_lookup() -> None:
    def up(_pan: str) -> str | None:
        return None

    assert card_rules.screen(_req(amount=0), up).rc == "13"  # type: ignore[union-attr]
    assert card_rules.screen(_req(pan="6214830000000018"), up).rc == "14"  # type: ignore[union-attr]
    assert card_rules.screen(_req(), lambda _pan: "91").rc == "91"  # type: ignore[union-attr]
    assert card_rules.screen(_req(TxnKind.BALANCE, amount=None), up) is None


def _txn(**changes: object) -> Txn:
    txn = Txn(
        1, "10000001", "898310048160001", "000007", "000001", "1125", "sale", "ACC",
        "621483******0017", 1_000, "000000000001", "123456", TxnStatus.APPROVED, "00", None,
        0, "online", "2026-11-25",
    )  # fmt: skip
    return replace(txn, **changes)  # type: ignore[arg-type]


def _reversal(amount: int | None = 1_000) -> ReversalRequest:
    return ReversalRequest("10000001", "000007", "000001", amount, reason="98")


def test_reversal_of_the_matching_sale_gives_the_money_back() -> None:
    decision, effects = card_rules.match_reversal(_reversal(), _txn(), REF, REF, NoTxns())
    assert decision.rc == "00"
    assert effects == [
        Move("ACC", balance=1_000),
        Spend("ACC", "2026-11-25", -1_000),
        SetStatus(1, TxnStatus.REVERSED),
    ]


def test_reversal_with_another_amount_is_64_and_the_original_stands() -> None:
    decision, effects = card_rules.match_reversal(_reversal(1), _txn(), REF, REF, NoTxns())
    assert (decision.rc, effects) == ("64", [])


def test_reversal_with_another_card_is_25_and_the_original_stands() -> None:
    decision, effects = card_rules.match_reversal(_reversal(), _txn(), REF, OTHER_REF, NoTxns())
    assert (decision.rc, effects) == ("25", [])


def test_reversal_of_a_reversed_original_changes_nothing() -> None:
    done = _txn(status=TxnStatus.REVERSED)
    decision, effects = card_rules.match_reversal(_reversal(), done, REF, REF, NoTxns())
    assert (decision.rc, effects) == ("00", [])


# -- request form (the handler's checks before the issuer) ------------------------------------


@pytest.mark.parametrize(
    ("fields", "fault"),
    [
        ({"12": "256100"}, "field 12"),
        ({"12": "236100"}, "field 12"),
        ({"13": "1301"}, "field 13"),
        ({"13": "0230"}, "field 13"),
        ({"12": "235959", "13": "0229"}, None),
        ({"12": "000000", "13": "0101"}, None),
        ({"12": "240000"}, "field 12"),
        ({"12": "235960"}, "field 12"),
        ({"12": "23595"}, "field 12"),
        ({"12": "2359590"}, "field 12"),
        ({"12": "12 000"}, "field 12"),
        ({"13": "0000"}, "field 13"),
        ({"13": "1200"}, "field 13"),
        ({"13": "0431"}, "field 13"),
        ({"13": "1231"}, None),
        ({"13": "123"}, "field 13"),
        ({"61": "0000010000071332"}, "field 61"),
        ({"61": "0000010000071231"}, None),
    ],
)
def test_dates_and_times_must_be_real(fields: dict[str, str], fault: str | None) -> None:
    found = bad_datetime(fields)
    assert (found.split(":")[0] if found else None) == fault


def test_a_processing_code_outside_the_profile_is_no_operation() -> None:
    assert classify("0200", "000000", "22") is TxnKind.SALE
    assert classify("0200", "990000", "22") is None  # answered 12 by the handler


# -- the issuer over an in-memory ledger ------------------------------------------------------


class MemoryLedger:
    """Only what :class:`Issuer` uses of a ledger, in dicts (no SQLite)."""

    def __init__(self) -> None:
        self.cards = {REF: _card(), OTHER_REF: _card(ref=OTHER_REF)}
        self.accounts = {"ACC": ACCT}
        self.spent: dict[tuple[str, str], int] = {}
        self.txns: dict[int, Txn] = {}
        self.refs_of: dict[int, bytes | None] = {}
        self.early: dict[tuple[str, str, str], int | None] = {}
        self.ids = itertools.count(1)
        self.rrns = itertools.count(1)

    class refs:  # noqa: N801 (the ledger's attribute)
        @staticmethod
        def ref(pan: str) -> bytes:
            return {PAN: REF, OTHER_PAN: OTHER_REF}.get(pan, b"unknown")

    @contextmanager
    def decision(self) -> Iterator[None]:
        yield

    atomic = decision

    def unavailable_rc(self, pan: str) -> str | None:
        return None

    def card_facts(self, ref: bytes, day: str) -> tuple[Card, Account, int] | None:
        card = self.cards.get(ref)
        if card is None:
            return None
        return card, self.accounts[card.account_id], self.spent.get((card.account_id, day), 0)

    def reversed_first(self, tid: str, batch: str, stan: str) -> bool:
        return (tid, batch, stan) in self.early

    def record_early_reversal(self, tid: str, batch: str, stan: str, *_rest: object) -> None:
        self.early.setdefault((tid, batch, stan), None)

    def link_late_original(self, tid: str, batch: str, stan: str, txn_id: int) -> None:
        self.early[tid, batch, stan] = txn_id

    def next_rrn(self) -> str:
        return f"{next(self.rrns):012d}"

    def unuse_rrn(self, rrn: str) -> None:
        pass

    def insert_txn(self, *, card_ref: bytes | None = None, **row: object) -> int | None:
        if self.find_txn(str(row["tid"]), str(row["stan"]), str(row["batch"])) is not None:
            return None
        txn_id = next(self.ids)
        row.setdefault("orig_id", None)
        fields = {**row, "id": txn_id, "refunded": 0, "source": "online"}
        self.txns[txn_id] = Txn(**fields)  # type: ignore[arg-type]
        self.refs_of[txn_id] = card_ref
        return txn_id

    def apply(self, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, Move):
                a = self.accounts[e.account_id]
                self.accounts[a.id] = replace(
                    a, balance=a.balance + e.balance, held=a.held + e.held
                )
            elif isinstance(e, Spend):
                key = (e.account_id, e.day)
                self.spent[key] = self.spent.get(key, 0) + e.amount
            elif isinstance(e, SetStatus):
                self.txns[e.txn_id] = replace(self.txns[e.txn_id], status=e.status)

    def txn(self, txn_id: int) -> Txn | None:
        return self.txns.get(txn_id)

    def find_txn(self, tid: str, stan: str, batch: str) -> Txn | None:
        found = [t for t in self.txns.values() if (t.tid, t.stan, t.batch) == (tid, stan, batch)]
        return found[-1] if found else None

    def find_by_rrn(self, tid: str, rrn: str) -> Txn | None:
        return next((t for t in self.txns.values() if (t.tid, t.rrn) == (tid, rrn)), None)

    def card_ref_of(self, txn_id: int) -> bytes | None:
        return self.refs_of.get(txn_id)

    def account(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)


def _issuer() -> tuple[Issuer, MemoryLedger]:
    led = MemoryLedger()
    return Issuer(cast(Ledger, led), clock=lambda: datetime(2026, 11, 25, 12, 0)), led


def test_late_original_after_its_reversal_is_declined_and_charges_nothing() -> None:
    issuer, led = _issuer()
    early = issuer.reverse(_reversal())
    assert early.rc == "00"
    late = issuer.authorize(_req(stan="000007", amount=1_000))
    assert late.rc == "12"
    assert led.accounts["ACC"].balance == ACCT.balance
    assert led.early["10000001", "000001", "000007"] == late.txn_id


def test_a_repeat_of_terminal_batch_stan_is_94_and_changes_nothing() -> None:
    issuer, led = _issuer()
    assert issuer.authorize(_req(amount=300)).rc == "00"
    assert issuer.authorize(_req(amount=300, txn_date="1126")).rc == "94"
    assert led.accounts["ACC"].balance == ACCT.balance - 300
    assert len(led.txns) == 1


@pytest.mark.parametrize(
    ("reversal", "rc", "balance_after"),
    [
        (ReversalRequest("10000001", "000007", "000001", 1_000, "98"), "00", ACCT.balance),
        (ReversalRequest("10000001", "000007", "000001", 1, "98"), "64", ACCT.balance - 1_000),
        (
            ReversalRequest("10000001", "000007", "000001", 1_000, "98", pan=OTHER_PAN),
            "25",
            ACCT.balance - 1_000,
        ),
        # another terminal, batch or STAN does not find the sale: recorded as an early reversal
        (ReversalRequest("10000002", "000007", "000001", 1_000, "98"), "00", ACCT.balance - 1_000),
        (ReversalRequest("10000001", "000007", "000002", 1_000, "98"), "00", ACCT.balance - 1_000),
        (ReversalRequest("10000001", "000008", "000001", 1_000, "98"), "00", ACCT.balance - 1_000),
    ],
)
def test_reversal_matches_terminal_batch_stan_amount_and_card(
    reversal: ReversalRequest, rc: str, balance_after: int
) -> None:
    issuer, led = _issuer()
    assert issuer.authorize(_req(amount=1_000)).rc == "00"
    assert issuer.reverse(reversal).rc == rc
    assert led.accounts["ACC"].balance == balance_after
