"""Transaction outcomes as results: an :class:`Outcome`, the response code, the catalog code and
what to tell the cardholder and the merchant (zh/en), taken from the catalog entry.

>>> r = TransactionResult(outcome=Outcome.DECLINED, kind="sale", rc="51",
...     code="TXN.INSUFFICIENT_FUNDS", amount=100, masked_pan="621234******1232")
>>> r.charged
False
>>> r.words.cardholder.en == default_catalog()["TXN.INSUFFICIENT_FUNDS"].title.en
True
>>> explain(Outcome.FAILED_NO_CHARGE, None).cardholder.en
'Not completed and not charged.'

"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from posguard.catalog import Text, default_catalog


class Outcome(StrEnum):
    """What happened to the money. Only APPROVED and STORED move it (STORED: later)."""

    APPROVED = "approved"  # host approved and the terminal completed it
    DECLINED = "declined"  # host said no; nothing to undo
    REVERSED = "reversed"  # the answer was lost / bad / unfinished: reversal acknowledged
    PENDING_REVERSAL = "pending_reversal"  # reversal queued, will be sent until acknowledged
    FAILED_NO_CHARGE = "failed_no_charge"  # never reached a host, or refused locally
    STORED = "stored"  # an advice (refund) waiting in the store-and-forward queue


@dataclass(frozen=True, slots=True)
class Explanation:
    """The words for the people at the counter, in both languages."""

    cardholder: Text
    merchant: Text


_APPROVED = Explanation(
    cardholder=Text(zh="交易成功", en="Approved"),
    merchant=Text(
        zh="交易成功，请把持卡人联交给顾客。",
        en="Approved: hand the cardholder copy to the customer.",
    ),
)
_REVERSED = Explanation(
    cardholder=Text(
        zh="交易未成功，未扣款，请重新刷卡。", en="Not completed and not charged: please try again."
    ),
    merchant=Text(
        zh="银行没有及时应答，终端已自动冲正，顾客不会被扣款；可以重新交易。",
        en="The bank did not answer in time; the terminal reversed it, the customer is not "
        "charged. You can run the sale again.",
    ),
)
_PENDING = Explanation(
    cardholder=Text(
        zh="交易未成功；如已扣款会自动退回。",
        en="Not completed; any hold on your card is released automatically.",
    ),
    merchant=Text(
        zh="终端会自动发送冲正直到银行确认，请不要重复收款，稍后重试。",
        en="The terminal keeps sending the reversal until the bank confirms; do not charge "
        "the customer again until it is done.",
    ),
)
_STORED = Explanation(
    cardholder=Text(
        zh="退货已提交，正在等待银行处理，尚未退回到卡上。",
        en="Refund submitted and pending with the bank; it is not credited yet.",
    ),
    merchant=Text(
        zh="退货已保存在终端上，会自动上送银行；银行确认前不算退款成功。",
        en="The refund is saved on the terminal and sent to the bank automatically; it is not "
        "done until the bank confirms it.",
    ),
)


_NOT_CHARGED = Explanation(
    cardholder=Text(zh="交易未成功，未扣款。", en="Not completed and not charged."),
    merchant=Text(
        zh="交易没有发出，顾客不会被扣款；检查终端提示后重试。",
        en="Nothing was sent, the customer is not charged; check the message and try again.",
    ),
)


def explain(outcome: Outcome, code: str | None) -> Explanation:
    """The catalog entry's words for ``code``; fixed words for outcomes without a fault."""
    if code is not None:
        entry = default_catalog().get(code)
        if entry is not None:
            step = entry.steps[0]
            return Explanation(cardholder=entry.title, merchant=Text(zh=step.zh, en=step.en))
    return {
        Outcome.APPROVED: _APPROVED,
        Outcome.REVERSED: _REVERSED,
        Outcome.PENDING_REVERSAL: _PENDING,
        Outcome.STORED: _STORED,
        Outcome.PENDING_REVERSAL: _PENDING,
    }.get(outcome, _NOT_CHARGED)


@dataclass(frozen=True, slots=True)
class TransactionResult:
    """The result of one operation; never holds a clear PAN."""

    outcome: Outcome
    kind: str
    amount: int = 0
    masked_pan: str = ""
    rc: str | None = None
    code: str | None = None
    stan: str | None = None
    batch: str | None = None
    rrn: str | None = None
    auth_code: str | None = None
    host: str | None = None
    balance: int | None = None
    reversal_reason: str | None = None
    explanation: Explanation | None = field(default=None, compare=False)
    training: bool = False  # a practice transaction (training mode): never moves money

    @property
    def charged(self) -> bool:
        """True when money moved (or, for STORED, will move once forwarded); never in training."""
        return not self.training and self.outcome in (Outcome.APPROVED, Outcome.STORED)

    @property
    def words(self) -> Explanation:
        return self.explanation or explain(self.outcome, self.code)
