"""Seed data for the host ledger: accounts, cards, merchants, terminals, unavailable BIN ranges.

A seed is plain data (YAML or JSON), validated when loaded. PINs appear in clear only in the
seed file (it is test data); the ledger stores a salted hash.

>>> seed = default_seed()
>>> sorted({c.status for c in seed.cards}) == sorted(CARD_STATUSES)
True
>>> all(luhn_valid(c.pan) for c in seed.cards)
True
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from posguard.card import luhn_valid
from posguard.common.errors import ConfigError
from posguard.common.lab import LAB_TERMINAL
from posguard.common.validation import first_error

__all__ = [
    "CARD_STATUSES",
    "AccountSeed",
    "CardSeed",
    "MerchantSeed",
    "SeedData",
    "TerminalSeed",
    "UnavailableBin",
    "default_seed",
    "dump_seed",
    "load_seed",
    "luhn_complete",
    "with_terminals",
]

CardStatus = Literal["active", "lost", "stolen", "restricted", "blocked"]
CARD_STATUSES: tuple[str, ...] = ("active", "lost", "stolen", "restricted", "blocked")
MacName = Literal["X919", "UNIONPAY_ECB", "SM4"]
OnlinePin = Literal["never", "contact", "always"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountSeed(_Model):
    id: str = Field(min_length=1)
    holder: str = ""
    balance: int = Field(ge=0, description="minor units (fen)")
    daily_limit: int = Field(ge=0)
    txn_limit: int = Field(ge=0)
    currency: str = Field(default="156", pattern=r"^\d{3}$", description="ISO 4217 numeric")
    other_currencies: list[str] = Field(
        default=[], description="further currencies the account may be charged in (field 49)"
    )

    @field_validator("other_currencies")
    @classmethod
    def _numeric(cls, v: list[str]) -> list[str]:
        for code in v:
            if not (len(code) == 3 and code.isdigit()):
                raise ValueError(f"currency {code!r} is not an ISO 4217 numeric code")
        return v


class CardSeed(_Model):
    pan: str = Field(pattern=r"^\d{12,19}$")
    account: str
    expiry: str = Field(pattern=r"^\d{2}(0[1-9]|1[0-2])$", description="YYMM")
    pin: str = Field(pattern=r"^\d{4,12}$")
    status: CardStatus = "active"
    pin_tries: int = Field(default=0, ge=0)
    online_pin: OnlinePin = Field(
        default="never",
        description="when a sale, pre-auth or balance inquiry needs an online PIN (field 52):"
        " never; contact = magnetic stripe (22 = 02x) and contact chip (05x); always",
    )
    note: str = ""


class MerchantSeed(_Model):
    mid: str = Field(pattern=r"^.{15}$")
    name: str
    mcc: str = Field(pattern=r"^\d{4}$")
    status: Literal["active", "closed", "suspended"] = "active"


class TerminalSeed(_Model):
    tid: str = Field(pattern=r"^.{8}$")
    mid: str
    registered: bool = True
    tmk: str = Field(pattern=r"^[0-9A-Fa-f]{32}$", description="terminal master key, hex")
    mac: MacName = "X919"

    @field_validator("tmk")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class UnavailableBin(_Model):
    prefix: str = Field(pattern=r"^\d{1,11}$")
    rc: Literal["90", "91", "92", "98"] = "91"
    note: str = ""


class SeedData(_Model):
    accounts: list[AccountSeed] = []
    cards: list[CardSeed] = []
    merchants: list[MerchantSeed] = []
    terminals: list[TerminalSeed] = []
    unavailable_bins: list[UnavailableBin] = []

    def model_post_init(self, _ctx: Any) -> None:
        accounts = {a.id for a in self.accounts}
        for c in self.cards:
            if c.account not in accounts:
                raise ValueError(
                    f"card ending {c.pan[-4:]} refers to unknown account {c.account!r}"
                )
        mids = {m.mid for m in self.merchants}
        for t in self.terminals:
            if t.mid not in mids:
                raise ValueError(f"terminal {t.tid} refers to unknown merchant {t.mid!r}")


def load_seed(path: str | Path) -> SeedData:
    """Read and validate a seed file (``.yaml``/``.yml`` or ``.json``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        raw = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read seed file: {exc}", path=str(p)) from exc
    try:
        return SeedData.model_validate(raw or {})
    except ValidationError as exc:
        where, msg = first_error(exc)
        raise ConfigError(f"invalid seed data: {msg}", path=str(p), field=where) from exc


def dump_seed(seed: SeedData) -> str:
    """The seed as YAML text (what ``posguard host seed`` writes)."""
    header = (
        "# posguard host seed: test data for the acquirer host simulator.\n"
        "# Amounts in minor units (fen). PINs are test PINs; the ledger stores salted hashes.\n"
    )
    body = yaml.safe_dump(seed.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    return header + body


def with_terminals(seed: SeedData, n: int, *, mid: str | None = None) -> SeedData:
    """``seed`` plus ``n`` registered terminals ``50000000``, ``50000001``... (deterministic TMKs)
    at merchant ``mid`` (default: the first merchant), for load tests and benchmarks.

    >>> len(with_terminals(default_seed(), 3).terminals) - len(default_seed().terminals)
    3
    """
    mid = mid or seed.merchants[0].mid
    extra = [
        TerminalSeed(
            tid=f"5{i:07d}", mid=mid, tmk=hashlib.sha256(f"tmk{i}".encode()).hexdigest()[:32]
        )
        for i in range(n)
    ]
    return seed.model_copy(update={"terminals": [*seed.terminals, *extra]})


def luhn_complete(partial: str) -> str:
    """Append the Luhn check digit to ``partial``.

    >>> luhn_complete("411111111111111")
    '4111111111111111'
    """
    for d in "0123456789":
        if luhn_valid(partial + d):
            return partial + d
    raise AssertionError("unreachable: one digit always completes a Luhn number")


def default_seed() -> SeedData:
    """A realistic default set: UnionPay, Visa and Mastercard BINs, cards in every interesting
    state, merchants with MCCs, registered and unregistered terminals, and issuer-down BINs.
    """
    up, visa, mc = "621483", "453201", "542418"
    accounts = [
        AccountSeed(
            id="ACC-ZHANG",
            holder="Zhang Wei",
            balance=5_000_000,
            daily_limit=2_000_000,
            txn_limit=1_000_000,
        ),
        AccountSeed(
            id="ACC-LI", holder="Li Na", balance=10_000, daily_limit=500_000, txn_limit=200_000
        ),
        AccountSeed(
            id="ACC-SMITH",
            holder="John Smith",
            balance=3_000_000,
            daily_limit=300_000,
            txn_limit=150_000,
        ),
        AccountSeed(
            id="ACC-MUELLER",
            holder="Anna Mueller",
            balance=2_000_000,
            daily_limit=1_000_000,
            txn_limit=500_000,
        ),
        AccountSeed(
            id="ACC-WANG",
            holder="Wang Fang",
            balance=800_000,
            daily_limit=800_000,
            txn_limit=800_000,
        ),
    ]

    def card(prefix: str, serial: str, length: int, **kw: Any) -> CardSeed:
        body = prefix + serial.rjust(length - len(prefix) - 1, "0")
        return CardSeed(pan=luhn_complete(body), **kw)

    cards = [
        card(up, "1", 19, account="ACC-ZHANG", expiry="3012", pin="123456", note="good"),
        card(up, "2", 19, account="ACC-LI", expiry="3012", pin="123456", note="low balance"),
        card(up, "3", 19, account="ACC-WANG", expiry="2312", pin="123456", note="expired"),
        card(
            up, "4", 19, account="ACC-WANG", expiry="3012", pin="123456", status="lost", note="lost"
        ),
        card(
            up,
            "5",
            19,
            account="ACC-WANG",
            expiry="3012",
            pin="123456",
            status="stolen",
            note="stolen",
        ),
        card(
            up,
            "6",
            19,
            account="ACC-WANG",
            expiry="3012",
            pin="123456",
            status="restricted",
            note="restricted",
        ),
        card(
            up,
            "7",
            19,
            account="ACC-WANG",
            expiry="3012",
            pin="123456",
            status="blocked",
            note="blocked for cardholder",
        ),
        card(
            up,
            "8",
            19,
            account="ACC-WANG",
            expiry="3012",
            pin="123456",
            pin_tries=2,
            note="one PIN try left",
        ),
        card(visa, "1", 16, account="ACC-SMITH", expiry="2906", pin="1234", note="good"),
        card(
            visa,
            "2",
            16,
            account="ACC-SMITH",
            expiry="2906",
            pin="1234",
            status="stolen",
            note="stolen",
        ),
        card(mc, "1", 16, account="ACC-MUELLER", expiry="2811", pin="4321", note="good"),
        card(mc, "2", 16, account="ACC-MUELLER", expiry="2201", pin="4321", note="expired"),
        card(
            "622588",
            "1",
            16,
            account="ACC-WANG",
            expiry="3012",
            pin="123456",
            note="issuer unavailable (91)",
        ),
        card(
            "622609",
            "1",
            16,
            account="ACC-WANG",
            expiry="3012",
            pin="123456",
            note="issuer timed out (98)",
        ),
        card(
            up,
            "9",
            19,
            account="ACC-ZHANG",
            expiry="3012",
            pin="123456",
            online_pin="contact",
            note="UnionPay debit: online PIN on swipe and contact chip",
        ),
    ]
    merchants = [
        MerchantSeed(
            mid=LAB_TERMINAL.merchant_id, name="Hualian Supermarket / 华联超市", mcc="5411"
        ),
        MerchantSeed(mid="898310058125678", name="Jinjiang Hotel / 锦江饭店", mcc="7011"),
        MerchantSeed(mid="898310054110001", name="Sinopec Station 12 / 中石化12号站", mcc="5541"),
        MerchantSeed(
            mid="898310058120002", name="Old Noodle House / 老面馆", mcc="5812", status="closed"
        ),
    ]
    terminals = [
        # the lab terminal: `posguard terminal init` writes its config (posguard.common.lab)
        TerminalSeed(
            tid=LAB_TERMINAL.terminal_id,
            mid=LAB_TERMINAL.merchant_id,
            tmk=LAB_TERMINAL.tmk,
            mac=LAB_TERMINAL.mac_algorithm,
        ),
        TerminalSeed(tid="10000002", mid="898310048161234", tmk="11223344556677888877665544332211"),
        TerminalSeed(
            tid="20000001",
            mid="898310058125678",
            tmk="A1B2C3D4E5F60718293A4B5C6D7E8F90",
            mac="UNIONPAY_ECB",
        ),
        TerminalSeed(tid="30000001", mid="898310054110001", tmk="00112233445566778899AABBCCDDEEFF"),
        TerminalSeed(tid="40000001", mid="898310058120002", tmk="FEDCBA98765432100123456789ABCDEF"),
        TerminalSeed(
            tid="99999999",
            mid="898310048161234",
            registered=False,
            tmk="0F0E0D0C0B0A09080706050403020100",
        ),
    ]
    bins = [
        UnavailableBin(prefix="622588", rc="91", note="issuer link down"),
        UnavailableBin(prefix="622609", rc="98", note="issuer times out"),
    ]
    return SeedData(
        accounts=accounts,
        cards=cards,
        merchants=merchants,
        terminals=terminals,
        unavailable_bins=bins,
    )
