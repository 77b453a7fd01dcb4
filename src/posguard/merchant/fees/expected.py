"""What one settled transaction should have cost under the merchant's contract."""

from __future__ import annotations

from dataclasses import dataclass

from posguard.merchant.fees.mcc import MccTable, default_mcc_table
from posguard.merchant.fees.model import Contract, Rate, RateCard, SettledTransaction


@dataclass(frozen=True, slots=True)
class Pricing:
    """The rate that applies and where it came from (``contract`` or ``mcc_standard``)."""

    rate: Rate
    source: str


def rate_for(
    txn: SettledTransaction, card: RateCard, *, mcc: str, table: MccTable | None = None
) -> Pricing | None:
    """The card's own rate for the transaction's class, else the MCC's standard rate."""
    rate = card.rates.get(txn.rate_class)
    if rate is not None:
        return Pricing(rate, "contract")
    standard = (table or default_mcc_table()).standard_rate(mcc, txn.rate_class)
    return Pricing(standard, "mcc_standard") if standard is not None else None


def expected_fee(
    txn: SettledTransaction, contract: Contract, *, table: MccTable | None = None
) -> int | None:
    """Fee in fen under the contract (priced at the merchant's own MCC, whatever MCC the
    transaction was settled under); None when neither contract nor MCC table price it."""
    pricing = rate_for(txn, contract, mcc=contract.mcc, table=table)
    return pricing.rate.fee(txn.amount) if pricing else None
