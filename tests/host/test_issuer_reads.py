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


def test_card_facts_read_card_account_and_spend_and_follow_the_ledgers_writes() -> None:
    issuer, led = _issuer()
    good = cards_of(default_seed()).good
    day = _CLOCK.date().isoformat()
    ref = led.refs.ref(good)
    found = led.card_facts(ref, day)
    assert found is not None
    card, acct, spent = found
    assert card.ref == ref
    assert card.masked.endswith(good[-4:])
    assert acct.id == card.account_id
    assert spent == 0
    with led.atomic():  # inside a transaction the rows are kept, and follow the writes
        assert led.card_facts(ref, day) == found
        led.move(acct.id, balance=-7, held=3)
        led.add_spent(acct.id, day, 7)
        led.set_pin_tries(ref, 2)
        inside = led.card_facts(ref, day)
    assert inside is not None
    assert led.card_facts(ref, day) == inside  # what the writes left in the database
    assert (inside[0].pin_tries, inside[1].balance, inside[1].held, inside[2]) == (
        2,
        acct.balance - 7,
        3,
        7,
    )
    assert issuer.authorize(_sale(good, 250)).rc == "00"
    after = led.card_facts(ref, day)
    assert after is not None
    assert (after[1].balance, after[2]) == (acct.balance - 7 - 250, 257)
    assert led.card_facts(led.refs.ref("6214839999999999998"), day) is None


def test_a_rolled_back_savepoint_forgets_the_rows_it_changed() -> None:
    led = _issuer()[1]
    good = cards_of(default_seed()).good
    day = _CLOCK.date().isoformat()
    ref = led.refs.ref(good)

    def debit_then_fail(account_id: str) -> None:
        with led.atomic():
            led.move(account_id, balance=-100)
            raise RuntimeError("bug")

    with led.atomic():
        before = led.card_facts(ref, day)
        assert before is not None
        with pytest.raises(RuntimeError):
            debit_then_fail(before[1].id)
        assert led.card_facts(ref, day) == before
