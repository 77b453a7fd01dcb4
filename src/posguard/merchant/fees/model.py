"""Typed records: rate classes, rates, rate cards, contracts and settled transactions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from posguard.merchant.fees.money import Fen, percent_of
from posguard.merchant.text import Text

MccCode = Annotated[str, Field(pattern=r"^[0-9]{4}$")]


class CardType(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class Channel(StrEnum):
    CARD = "card"  # chip, swipe or contactless on the terminal
    QR = "qr"  # scan-to-pay (UnionPay QR, wallets)


class RateClass(StrEnum):
    """The classes a contract prices separately."""

    DEBIT = "debit"
    CREDIT = "credit"
    QR = "qr"
    INTERNATIONAL = "international"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Rate(_Frozen):
    """``percent`` of the amount (half-up to the fen) plus ``fixed``, at least ``minimum``,
    at most ``cap`` per transaction. Money fields are written in yuan.

    >>> Rate(percent=Decimal("0.5"), cap="20").fee(1_000_000)   # 0.5% of 10,000 yuan, capped
    2000
    """

    percent: Annotated[Decimal, Field(ge=0, le=10)]
    cap: Fen | None = None
    minimum: Fen | None = None
    fixed: Fen = 0

    def fee(self, amount_fen: int) -> int:
        fee = self.fixed + percent_of(amount_fen, self.percent)
        if self.minimum is not None:
            fee = max(fee, self.minimum)
        if self.cap is not None:
            fee = min(fee, self.cap)
        return fee

    def describe(self) -> str:
        text = f"{self.percent.normalize():f}%"
        if self.fixed:
            text += f" + {self.fixed / 100:.2f}"
        if self.cap is not None:
            text += f", cap {self.cap / 100:.2f}"
        if self.minimum is not None:
            text += f", min {self.minimum / 100:.2f}"
        return text


class RateCard(_Frozen):
    """Rates by class plus a fixed monthly fee (terminal rental, service fee)."""

    rates: dict[RateClass, Rate]
    monthly_fee: Fen = 0


class Contract(RateCard):
    """What the merchant signed: its own MCC and rates."""

    merchant_id: str = Field(min_length=1, max_length=64)
    merchant_name: str | None = None
    mcc: MccCode
    provider: str | None = None
    effective_from: date | None = None


class Provider(RateCard):
    id: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    name: Text
    note: Text | None = None


class SettledTransaction(_Frozen):
    """One settled sale as the acquirer reported it. ``fee`` is what was charged;
    ``issuer_fee`` / ``network_fee`` are the statement's breakdown, when it has one."""

    txn_id: str = Field(min_length=1, max_length=64)
    settled_on: date
    amount: Fen = Field(gt=0)
    fee: Fen = Field(ge=0)
    channel: Channel = Channel.CARD
    card_type: CardType = CardType.DEBIT
    international: bool = False
    mcc: MccCode
    issuer_fee: Fen | None = None
    network_fee: Fen | None = None

    @property
    def rate_class(self) -> RateClass:
        if self.international:
            return RateClass.INTERNATIONAL
        if self.channel is Channel.QR:
            return RateClass.QR
        return RateClass.CREDIT if self.card_type is CardType.CREDIT else RateClass.DEBIT
