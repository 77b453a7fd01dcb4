"""The issuer's reads for a card transaction: whichever path reads the ledger (the one query for
a card it can look up, the plain duplicate check for one it cannot), a repeat of (terminal,
batch, STAN) is answered 94 and changes nothing, whatever its field 13 says."""

from __future__ import annotations

from datetime import datetime

import pytest

from posguard.host.issuer import AuthRequest, Issuer
from posguard.host.ledger import Ledger
from posguard.host.seed import default_seed
from posguard.iso8583.operations import TxnKind

from .conftest import cards_of

_CLOCK = datetime(2026, 11, 25, 12, 0, 0)


def _issuer() -> tuple[Issuer, Ledger]:
    led = Ledger.open(":memory:")
    led.load_seed(default_seed())
    return Issuer(led, clock=lambda: _CLOCK), led


def _sale(
    pan: str | None, amount: int | None, stan: str = "000001", date: str = "1125"
) -> AuthRequest:
    return AuthRequest(
        TxnKind.SALE, "10000001", "898310048160001", stan, "000001", date, pan, amount
    )


@pytest.mark.parametrize(
    ("pan", "amount", "first_rc"),
    [
        (cards_of(default_seed()).good, 100, "00"),  # card found: one query
        ("6214830000000000", 100, "14"),  # Luhn fails: no card lookup
        ("6214839999999999998", 100, "14"),  # Luhn passes, unknown to the issuer
        (cards_of(default_seed()).good, 0, "13"),  # amount fails before the card
        (cards_of(default_seed()).issuer_down_91, 100, "91"),  # BIN down, no card lookup
        (cards_of(default_seed()).lost, 100, "41"),  # card found, declined
    ],
)
def test_repeat_is_94_and_changes_nothing(pan: str, amount: int, first_rc: str) -> None:
    issuer, led = _issuer()
    first = issuer.authorize(_sale(pan, amount))
    assert first.rc == first_rc
    balance = led.balance_of_card(cards_of(default_seed()).good)
    rows = len(led.transactions())
    again = issuer.authorize(_sale(pan, amount))
    assert again.rc == "94"
    next_day = issuer.authorize(_sale(pan, amount, date="1126"))  # field 13 changed
    assert next_day.rc == "94"
    assert led.balance_of_card(cards_of(default_seed()).good) == balance
    assert len(led.transactions()) == rows


def test_card_context_reads_card_account_spend_and_duplicate() -> None:
    issuer, led = _issuer()
    good = cards_of(default_seed()).good
    day = _CLOCK.date().isoformat()
    ref = led.refs.ref(good)
    dup, reversed_first, found = led.card_context("10000001", "000001", "000001", ref, day)
    assert dup is False
    assert reversed_first is False
    assert found is not None
    card, acct, spent = found
    assert card.ref == ref
    assert card.masked.endswith(good[-4:])
    assert acct.id == card.account_id
    assert spent == 0
    assert issuer.authorize(_sale(good, 250)).rc == "00"
    dup, _, found = led.card_context("10000001", "000001", "000001", ref, day)
    assert dup is True
    assert found is not None
    assert found[2] == 250
    assert found[1].balance == acct.balance - 250
    unknown = led.refs.ref("6214839999999999998")
    assert led.card_context("10000001", "000001", "000002", unknown, day) == (False, False, None)
