"""The demo's cards and the host seed for a drawn estate: accounts, cards, merchants, terminals.

Cards come from a few real-shaped BIN ranges (UnionPay debit and credit, an Agricultural Bank
debit range the default timeline takes down, Visa, Mastercard); most are good, a few are there
to be declined (no money, expired). Terminal master keys are derived from the terminal id, so
the same estate always gets the same keys.

>>> from posguard.sim.population import build_estate
>>> book = CardBook.default()
>>> seed = host_seed(build_estate(terminals=3, seed=2), book)
>>> len(seed.terminals), seed.terminals[0].tid
(3, 'T0000001')
>>> all(c.pan.startswith(("62", "4", "5")) for c in seed.cards)
True
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from posguard.host.seed import (
    AccountSeed,
    CardSeed,
    MerchantSeed,
    SeedData,
    TerminalSeed,
    luhn_complete,
)
from posguard.sim.population import Estate

PIN = "123456"
RICH = 10**12  # fen: accounts that never run dry during a demo


@dataclass(frozen=True, slots=True)
class DemoCard:
    pan: str
    expiry: str  # YYMM
    account: str
    weight: int
    note: str


def _pan(prefix: str, serial: int, length: int) -> str:
    body = prefix + str(serial).rjust(length - len(prefix) - 1, "0")
    return luhn_complete(body)


@dataclass(frozen=True, slots=True)
class CardBook:
    """The cards shoppers present, with how often each is used."""

    cards: tuple[DemoCard, ...]

    @classmethod
    def default(cls) -> CardBook:
        cards: list[DemoCard] = []
        # (BIN, length, how many cards, weight of each, note)
        ranges = (
            ("621483", 19, 6, 10, "UnionPay debit"),
            ("622848", 19, 4, 8, "Agricultural Bank debit"),
            ("625807", 16, 3, 6, "UnionPay credit"),
            ("453201", 16, 2, 3, "Visa"),
            ("542418", 16, 2, 3, "Mastercard"),
        )
        for prefix, length, count, weight, note in ranges:
            for i in range(1, count + 1):
                cards.append(DemoCard(_pan(prefix, i, length), "3012", "ACC-RICH", weight, note))
        cards.append(DemoCard(_pan("621483", 900, 19), "3012", "ACC-POOR", 1, "no money"))
        cards.append(DemoCard(_pan("621483", 901, 19), "2312", "ACC-RICH", 1, "expired"))
        return cls(tuple(cards))

    def pick(self, rng: random.Random) -> DemoCard:
        return rng.choices(self.cards, weights=[c.weight for c in self.cards], k=1)[0]

    def pans(self) -> list[str]:
        return [c.pan for c in self.cards]


def terminal_tmk(terminal_id: str) -> str:
    """The demo master key of a terminal (hex, 16 bytes), derived from its id.

    >>> len(terminal_tmk("T0000001"))
    32
    """
    return hashlib.sha256(f"posguard-demo-tmk:{terminal_id}".encode()).hexdigest()[:32].upper()


def host_seed(estate: Estate, book: CardBook) -> SeedData:
    """Everything the host simulator must know to serve ``estate`` with ``book``'s cards."""
    accounts = [
        AccountSeed(id="ACC-RICH", holder="Demo", balance=RICH, daily_limit=RICH, txn_limit=RICH),
        AccountSeed(id="ACC-POOR", holder="Poor", balance=100, daily_limit=RICH, txn_limit=RICH),
    ]
    cards = [
        CardSeed(pan=c.pan, account=c.account, expiry=c.expiry, pin=PIN, note=c.note)
        for c in book.cards
    ]
    used = {t.merchant_id for t in estate.terminals}
    merchants = [
        MerchantSeed(mid=m.merchant_id, name=m.name, mcc=m.mcc)
        for m in estate.merchants
        if m.merchant_id in used
    ]
    terminals = [
        TerminalSeed(tid=t.terminal_id, mid=t.merchant_id, tmk=terminal_tmk(t.terminal_id))
        for t in estate.terminals
    ]
    return SeedData(accounts=accounts, cards=cards, merchants=merchants, terminals=terminals)
