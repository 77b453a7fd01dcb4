"""Yearly cost projection and a side-by-side of providers' rate cards on the merchant's
real transaction mix.

The projection scales the observed period to 365 days (half-up to the fen) and adds
twelve monthly fees; every provider is priced on the same transactions, one by one, so
caps and minimums bite exactly where they would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from posguard.merchant.errors import MerchantDataError
from posguard.merchant.fees.expected import rate_for
from posguard.merchant.fees.mcc import MccTable, default_mcc_table
from posguard.merchant.fees.model import Contract, Provider, RateCard, SettledTransaction
from posguard.merchant.text import Text, t


def annualise(fen: int, days: int) -> int:
    """Scale ``fen`` observed over ``days`` to 365 days.

    >>> annualise(10_000, 30)    # 100 CNY in 30 days -> 1216.67 CNY a year
    121667
    """
    if days <= 0:
        raise MerchantDataError("cannot project a period of no days", field="days")
    return int((Decimal(fen) * 365 / days).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def period_days(txns: Sequence[SettledTransaction]) -> int:
    if not txns:
        return 0
    days = [x.settled_on for x in txns]
    return (max(days) - min(days)).days + 1


@dataclass(frozen=True, slots=True)
class CardCost:
    """What one rate card would have cost on the observed transactions, and per year."""

    id: str
    name: Text
    period_fen: int
    yearly_fen: int
    unpriced: int  # transactions this card has no rate for (priced at the MCC standard)


@dataclass(frozen=True, slots=True)
class Comparison:
    days: int
    count: int
    amount_fen: int
    rows: tuple[CardCost, ...]  # cheapest first

    def saving_vs(self, row_id: str) -> int:
        """Yearly fen saved by the cheapest card compared with ``row_id``."""
        base = next(r for r in self.rows if r.id == row_id)
        return base.yearly_fen - self.rows[0].yearly_fen


def cost_on_mix(
    txns: Sequence[SettledTransaction], card: RateCard, *, mcc: str, table: MccTable
) -> tuple[int, int]:
    """(fee total in fen, number of transactions priced by the MCC standard instead)."""
    total = fallback = 0
    for txn in txns:
        pricing = rate_for(txn, card, mcc=mcc, table=table)
        if pricing is None:
            raise MerchantDataError(
                f"no rate for {txn.rate_class.value} in the card or MCC {mcc}", field="rates"
            )
        fallback += pricing.source != "contract"
        total += pricing.rate.fee(txn.amount)
    return total, fallback


def compare_providers(
    txns: Sequence[SettledTransaction],
    contract: Contract,
    providers: Sequence[Provider],
    *,
    table: MccTable | None = None,
) -> Comparison:
    """Price the mix under the current contract, what was actually charged, and each provider."""
    if not txns:
        raise MerchantDataError("no transactions to compare on", field="transactions")
    table = table or default_mcc_table()
    days = period_days(txns)
    months = Decimal(days) / Decimal("30.4375")  # mean month of the Gregorian year

    def row(id_: str, name: Text, fee: int, monthly: int, unpriced: int) -> CardCost:
        period_fixed = int((monthly * months).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return CardCost(
            id_, name, fee + period_fixed, annualise(fee, days) + 12 * monthly, unpriced
        )

    rows: list[CardCost] = []
    charged = sum(x.fee for x in txns)
    rows.append(row("charged", t("实际扣收", "actually charged"), charged, contract.monthly_fee, 0))
    fee, fallback = cost_on_mix(txns, contract, mcc=contract.mcc, table=table)
    rows.append(
        row("contract", t("现合同", "current contract"), fee, contract.monthly_fee, fallback)
    )
    for p in providers:
        fee, fallback = cost_on_mix(txns, p, mcc=contract.mcc, table=table)
        rows.append(row(p.id, p.name, fee, p.monthly_fee, fallback))
    rows.sort(key=lambda r: (r.yearly_fen, r.id))
    return Comparison(days, len(txns), sum(x.amount for x in txns), tuple(rows))
