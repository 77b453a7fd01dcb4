"""The fee-rate change of the story, found the way a merchant would find it: the settled batch
is priced by the acquirer (with a quiet rate rise for the targeted merchants) and the merchant
fee audit compares each fee with the contract, raising REG.FEE_RATE_CHANGED where they differ.

>>> from posguard.merchant.fees.model import RateClass
>>> rate_class_of("625807******1234"), rate_class_of("453201******0001")
(<RateClass.CREDIT: 'credit'>, <RateClass.INTERNATIONAL: 'international'>)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from posguard.common.events import EventKind
from posguard.merchant.fees.audit import audit_fees
from posguard.merchant.fees.model import (
    CardType,
    Contract,
    Rate,
    RateClass,
    SettledTransaction,
)
from posguard.merchant.fees.money import fen_to_yuan

CONTRACT_RATES: dict[str, dict[str, str]] = {
    "debit": {"percent": "0.5", "cap": "20"},
    "credit": {"percent": "0.55"},
    "qr": {"percent": "0.38"},
    "international": {"percent": "2.5"},
}
# What the acquirer quietly charges the targeted merchants instead.
# (Money fields of the merchant model are written in yuan.)
RAISED: dict[RateClass, Rate] = {
    RateClass.DEBIT: Rate.model_validate({"percent": "0.6", "cap": "20"}),
    RateClass.CREDIT: Rate.model_validate({"percent": "0.68"}),
    RateClass.INTERNATIONAL: Rate.model_validate({"percent": "2.8"}),
}
_CREDIT_BINS = ("625807",)
_FOREIGN_BINS = ("4", "5")


def rate_class_of(masked_pan: str) -> RateClass:
    if masked_pan.startswith(_CREDIT_BINS):
        return RateClass.CREDIT
    if masked_pan.startswith(_FOREIGN_BINS):
        return RateClass.INTERNATIONAL
    return RateClass.DEBIT


@dataclass(frozen=True, slots=True)
class SettledSale:
    """One approved sale of a settled batch, as the host's ledger holds it (masked PAN)."""

    txn_id: str
    merchant_id: str
    masked_pan: str
    amount: int


def contract_for(merchant_id: str, mcc: str) -> Contract:
    return Contract.model_validate(
        {"merchant_id": merchant_id, "mcc": mcc, "rates": CONTRACT_RATES}
    )


def run_fee_audit(
    sales: Iterable[SettledSale],
    mcc_of: Mapping[str, str],
    raised_for: set[str],
    *,
    settled_on: date,
) -> dict[str, Any]:
    """Price every sale (raised rates for ``raised_for``), audit each merchant; a summary."""
    by_merchant: dict[str, list[SettledSale]] = {}
    for s in sales:
        by_merchant.setdefault(s.merchant_id, []).append(s)
    audited: list[dict[str, Any]] = []
    for mid, rows in sorted(by_merchant.items()):
        contract = contract_for(mid, mcc_of[mid])
        txns = []
        for s in rows:
            rc = rate_class_of(s.masked_pan)
            charged = (
                RAISED[rc] if mid in raised_for and rc in RAISED else contract.rates[rc]
            ).fee(s.amount)
            txns.append(
                SettledTransaction.model_validate(
                    {
                        "txn_id": s.txn_id,
                        "settled_on": settled_on,
                        "amount": fen_to_yuan(s.amount),  # the model reads money in yuan
                        "fee": fen_to_yuan(charged),
                        "card_type": CardType.CREDIT if rc is RateClass.CREDIT else CardType.DEBIT,
                        "international": rc is RateClass.INTERNATIONAL,
                        "mcc": mcc_of[mid],
                    }
                )
            )
        audit = audit_fees(txns, contract)
        changed = [f for f in audit.findings if f.code == "REG.FEE_RATE_CHANGED"]
        audited.append(
            {
                "merchant_id": mid,
                "sales": audit.count,
                "overcharged_fen": audit.overcharged_fen,
                "findings": [
                    {
                        "code": f.code,
                        "kind": f.kind,
                        "at_stake_fen": f.at_stake_fen,
                        "en": f.title.en,
                    }
                    for f in changed
                ],
                "rate_raised": mid in raised_for,
            }
        )
    return {
        "merchants_audited": len(audited),
        "merchants_raised": sorted(raised_for),
        "merchants_flagged": sorted(a["merchant_id"] for a in audited if a["findings"]),
        "overcharged_fen": sum(a["overcharged_fen"] for a in audited),
        "merchants": audited,
    }


class _Reporting(Protocol):
    """A terminal of the demo that reports to the fleet (``VirtualTerminal``)."""

    @property
    def merchant_id(self) -> str: ...

    def emit(self, kind: EventKind | str, code: str | None = None, **data: Any) -> object: ...


def report_fee_changes(fee: Mapping[str, Any], terminals: Iterable[_Reporting]) -> None:
    """Each terminal of a merchant the fee audit flagged reports REG.FEE_RATE_CHANGED to the
    fleet (through its own outbox and agent), so the dashboard shows the change on that
    merchant's terminals and in the fleet's events."""
    flagged = {a["merchant_id"]: a for a in fee["merchants"] if a["findings"]}
    for vt in terminals:
        audit = flagged.get(vt.merchant_id)
        if audit is not None:
            vt.emit(
                EventKind.FAULT,
                "REG.FEE_RATE_CHANGED",
                source="fee_audit",
                sales=audit["sales"],
                overcharged_yuan=f"{audit['overcharged_fen'] / 100:.2f}",
            )
