"""A realistic, seeded month of settled transactions for tests, demos and benchmarks.

Shape: more sales at weekends and lunch/dinner, a mix of QR (~55%), debit (~25%),
credit (~18%) and foreign cards (~2%), log-normal amounts with a long tail (so some debit
fees hit their cap), fees charged exactly as the contract says, and the statement's
issuer/network breakdown within the 2016 caps. Faults are planted on purpose:

* :class:`RateRise`: from a day on, one class is charged a different rate;
* :class:`MccSwitch`: between two days, a share of sales settles under another MCC and is
  charged that MCC's standard rates.

>>> from posguard.merchant.fees.model import Contract
>>> c = Contract.model_validate({"merchant_id": "M1", "mcc": "5812", "rates": {
...     "debit": {"percent": "0.5", "cap": "20"}, "credit": {"percent": "0.55"},
...     "qr": {"percent": "0.38"}, "international": {"percent": "2.5"}}})
>>> month = generate_month(c, year=2026, month=11, seed=7)
>>> len(month) > 2000, all(x.mcc == "5812" for x in month)
(True, True)
"""

from __future__ import annotations

import calendar
import math
import random
from dataclasses import dataclass
from datetime import date

from posguard.merchant.fees.caps import (
    ISSUER_CREDIT_PERCENT,
    ISSUER_DEBIT_CAP_FEN,
    ISSUER_DEBIT_PERCENT,
    NETWORK_CAP_FEN,
    NETWORK_PERCENT,
)
from posguard.merchant.fees.expected import rate_for
from posguard.merchant.fees.mcc import MccTable, default_mcc_table
from posguard.merchant.fees.model import (
    CardType,
    Channel,
    Contract,
    Rate,
    RateClass,
    SettledTransaction,
)
from posguard.merchant.fees.money import fen_to_yuan, percent_of


@dataclass(frozen=True, slots=True)
class RateRise:
    rate_class: RateClass
    since: date
    rate: Rate


@dataclass(frozen=True, slots=True)
class MccSwitch:
    mcc: str
    since: date
    until: date
    share: float = 0.5  # of the sales in the window


# (rate class, weight, median amount in yuan, log-normal sigma)
_MIX = (
    (RateClass.QR, 55, 45.0, 0.8),
    (RateClass.DEBIT, 25, 180.0, 1.1),
    (RateClass.CREDIT, 18, 260.0, 1.0),
    (RateClass.INTERNATIONAL, 2, 420.0, 0.9),
)


def _amount_fen(rng: random.Random, median: float, sigma: float) -> int:
    yuan = rng.lognormvariate(math.log(median), sigma)
    return max(100, min(int(yuan * 100), 5_000_000))  # 1 CNY .. 50,000 CNY


def _breakdown(amount: int, card: CardType) -> tuple[int, int]:
    if card is CardType.DEBIT:
        issuer = min(percent_of(amount, ISSUER_DEBIT_PERCENT), ISSUER_DEBIT_CAP_FEN)
    else:
        issuer = percent_of(amount, ISSUER_CREDIT_PERCENT)
    return issuer, min(percent_of(amount, NETWORK_PERCENT), NETWORK_CAP_FEN)


def generate_month(
    contract: Contract,
    *,
    year: int,
    month: int,
    seed: int,
    per_day: tuple[int, int] = (70, 110),
    rate_rise: RateRise | None = None,
    mcc_switch: MccSwitch | None = None,
    table: MccTable | None = None,
) -> list[SettledTransaction]:
    """Every day of the month, ``per_day`` sales (weekends x1.4), charged per contract
    except where a planted fault applies."""
    table = table or default_mcc_table()
    rng = random.Random(seed)  # noqa: S311 - seeded demo data, not a secret
    classes = [m[0] for m in _MIX]
    weights = [m[1] for m in _MIX]
    shape = {m[0]: (m[2], m[3]) for m in _MIX}
    out: list[SettledTransaction] = []
    for day_no in range(1, calendar.monthrange(year, month)[1] + 1):
        day = date(year, month, day_no)
        n = rng.randint(*per_day)
        if day.weekday() >= 5:
            n = int(n * 1.4)
        for i in range(n):
            rc = rng.choices(classes, weights)[0]
            amount = _amount_fen(rng, *shape[rc])
            channel = Channel.QR if rc is RateClass.QR else Channel.CARD
            if rc in (RateClass.DEBIT, RateClass.CREDIT):
                card = CardType(rc.value)
            else:
                card = CardType.DEBIT if rng.random() < 0.7 else CardType.CREDIT
            mcc = contract.mcc
            if (
                mcc_switch is not None
                and mcc_switch.since <= day <= mcc_switch.until
                and rng.random() < mcc_switch.share
            ):
                mcc = mcc_switch.mcc
            txn = SettledTransaction(
                txn_id=f"{day:%Y%m%d}-{i:04d}",
                settled_on=day,
                amount=fen_to_yuan(amount),
                fee="0",
                channel=channel,
                card_type=card,
                international=rc is RateClass.INTERNATIONAL,
                mcc=mcc,
            )
            if mcc != contract.mcc:
                standard = table.standard_rate(mcc, rc)
                assert standard is not None, f"MCC {mcc} has no standard {rc} rate"
                rate = standard
            elif rate_rise is not None and rc is rate_rise.rate_class and day >= rate_rise.since:
                rate = rate_rise.rate
            else:
                pricing = rate_for(txn, contract, mcc=contract.mcc, table=table)
                assert pricing is not None
                rate = pricing.rate
            issuer, network = (None, None) if txn.international else _breakdown(amount, card)
            out.append(  # model_copy sets attributes, which hold fen
                txn.model_copy(
                    update={"fee": rate.fee(amount), "issuer_fee": issuer, "network_fee": network}
                )
            )
    return out


__all__ = ["MccSwitch", "RateRise", "generate_month"]
