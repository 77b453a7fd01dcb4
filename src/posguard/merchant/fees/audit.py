"""Compare what was charged with what the contract says: REG.FEE_RATE_CHANGED findings.

Two kinds, each grouped so a merchant reads one line per problem, with the money:

* ``mcc_changed``: transactions settled under an MCC other than the merchant's own (one
  finding per foreign MCC), whatever the fee difference: a wrong MCC (跳码) changes the
  rate and the rules the merchant is held to.
* ``rate_changed``: transactions under the merchant's own MCC whose fee differs from the
  contract by more than ``tolerance_fen`` (one finding per rate class), with the first
  day it happened and the rate actually applied.

Fees above the regulated caps (see :mod:`posguard.merchant.fees.caps`) are added as
REG.FEE_CAP_EXCEEDED findings of kind ``cap_exceeded``: a breach of the rules, not a
change of the contract.

``at_stake_fen`` is charged minus contracted, summed per transaction (each fee rounded
half-up to the fen): positive means the merchant paid too much.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from posguard.catalog.model import Severity
from posguard.merchant.fees.caps import check_caps
from posguard.merchant.fees.expected import rate_for
from posguard.merchant.fees.mcc import MccTable, default_mcc_table
from posguard.merchant.fees.model import Contract, RateClass, SettledTransaction
from posguard.merchant.fees.money import fen_to_yuan
from posguard.merchant.findings import FEE_RATE_CHANGED, Finding
from posguard.merchant.text import t

_CLASS_ZH = {
    RateClass.DEBIT: "借记卡",
    RateClass.CREDIT: "贷记卡",
    RateClass.QR: "扫码支付",
    RateClass.INTERNATIONAL: "境外卡",
}


@dataclass(frozen=True, slots=True)
class ClassTotals:
    rate_class: RateClass
    count: int
    amount_fen: int
    charged_fen: int
    expected_fen: int


@dataclass(frozen=True, slots=True)
class FeeAudit:
    merchant_id: str
    first_day: date | None
    last_day: date | None
    count: int
    amount_fen: int
    charged_fen: int
    expected_fen: int
    by_class: tuple[ClassTotals, ...]
    findings: tuple[Finding, ...]
    unpriced: tuple[str, ...]  # txn ids neither the contract nor the MCC table price

    @property
    def days(self) -> int:
        if self.first_day is None or self.last_day is None:
            return 0
        return (self.last_day - self.first_day).days + 1

    @property
    def overcharged_fen(self) -> int:
        return self.charged_fen - self.expected_fen


@dataclass(slots=True)
class _Group:
    count: int = 0
    amount: int = 0
    charged: int = 0
    expected: int = 0
    first: date | None = None
    last: date | None = None
    uncapped_amount: int = 0
    uncapped_charged: int = 0

    def add(self, txn: SettledTransaction, expected: int, capped: bool) -> None:
        self.count += 1
        self.amount += txn.amount
        self.charged += txn.fee
        self.expected += expected
        self.first = txn.settled_on if self.first is None else min(self.first, txn.settled_on)
        self.last = txn.settled_on if self.last is None else max(self.last, txn.settled_on)
        if not capped:
            self.uncapped_amount += txn.amount
            self.uncapped_charged += txn.fee

    @property
    def at_stake(self) -> int:
        return self.charged - self.expected

    def effective_percent(self) -> Decimal | None:
        if not self.uncapped_amount:
            return None
        pct = Decimal(self.uncapped_charged) * 100 / Decimal(self.uncapped_amount)
        return pct.quantize(Decimal("0.001"))


def _money(fen: int) -> str:
    return f"{fen_to_yuan(fen)} CNY"


def _mcc_finding(contract: Contract, mcc: str, g: _Group, table: MccTable) -> Finding:
    own, other = table.name(contract.mcc), table.name(mcc)
    more_zh = "多付" if g.at_stake >= 0 else "少付"
    more_en = "more" if g.at_stake >= 0 else "less"
    return Finding(
        code=FEE_RATE_CHANGED,
        kind="mcc_changed",
        severity=Severity.MAJOR,
        subject=contract.merchant_id,
        title=t(
            f"交易以他人商户类别码{mcc}结算", f"Transactions settled under another MCC ({mcc})"
        ),
        detail=t(
            f"{g.first}至{g.last}有{g.count}笔交易以MCC {mcc}（{other.zh}）结算，"
            f"而您的类别是{contract.mcc}（{own.zh}）。实收手续费{fen_to_yuan(g.charged)}元，"
            f"按合同应为{fen_to_yuan(g.expected)}元，{more_zh}{fen_to_yuan(abs(g.at_stake))}元。",
            f"{g.count} transactions from {g.first} to {g.last} were settled under MCC {mcc} "
            f"({other.en}) instead of your {contract.mcc} ({own.en}). Charged "
            f"{_money(g.charged)}, contract {_money(g.expected)}: "
            f"{_money(abs(g.at_stake))} {more_en}.",
        ),
        action=t(
            "请联系收单机构核实商户类别码并要求按合同MCC结算；MCC被改（跳码）可能影响费率和资金安全。",
            "Ask the acquirer to confirm your MCC and settle under the contracted one; a changed "
            "MCC can change your rates and put settlement at risk.",
        ),
        at_stake_fen=g.at_stake,
        since=g.first,
        until=g.last,
        count=g.count,
    )


def _rate_finding(
    contract: Contract, rate_class: RateClass, g: _Group, contracted: str, source: str
) -> Finding:
    eff = g.effective_percent()
    applied_zh = f"，实际约按{eff}%收取" if eff is not None else ""
    applied_en = f"; about {eff}% was applied" if eff is not None else ""
    where_zh = "合同" if source == "contract" else "MCC标准"
    more_zh = "多收" if g.at_stake >= 0 else "少收"
    more_en = "overcharged" if g.at_stake >= 0 else "undercharged"
    return Finding(
        code=FEE_RATE_CHANGED,
        kind="rate_changed",
        severity=Severity.MAJOR if g.at_stake > 0 else Severity.MINOR,
        subject=contract.merchant_id,
        title=t(
            f"{_CLASS_ZH[rate_class]}手续费与合同不符",
            f"{rate_class.value} fees differ from contract",
        ),
        detail=t(
            f"自{g.first}起{g.count}笔{_CLASS_ZH[rate_class]}交易的手续费与{where_zh}费率"
            f"（{contracted}）不符{applied_zh}。实收{fen_to_yuan(g.charged)}元，"
            f"应收{fen_to_yuan(g.expected)}元，{more_zh}{fen_to_yuan(abs(g.at_stake))}元。",
            f"Since {g.first}, {g.count} {rate_class.value} transactions were not charged the "
            f"{'contract' if source == 'contract' else 'MCC standard'} rate ({contracted})"
            f"{applied_en}. Charged "
            f"{_money(g.charged)}, expected {_money(g.expected)}: "
            f"{_money(abs(g.at_stake))} {more_en}.",
        ),
        action=t(
            "请向收单机构索取费率变更通知；未经同意的调价可要求退还差额。",
            "Ask the acquirer for the notice of the rate change; a change you did not agree to "
            "can be refunded.",
        ),
        at_stake_fen=g.at_stake,
        since=g.first,
        until=g.last,
        count=g.count,
    )


def audit_fees(
    txns: Sequence[SettledTransaction],
    contract: Contract,
    *,
    table: MccTable | None = None,
    tolerance_fen: int = 0,
) -> FeeAudit:
    """Price every transaction under the contract and group the differences into findings."""
    table = table or default_mcc_table()
    totals: dict[RateClass, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    mcc_groups: dict[str, _Group] = defaultdict(_Group)
    rate_groups: dict[RateClass, _Group] = defaultdict(_Group)
    rate_text: dict[RateClass, tuple[str, str]] = {}
    unpriced: list[str] = []
    for txn in txns:
        pricing = rate_for(txn, contract, mcc=contract.mcc, table=table)
        if pricing is None:
            unpriced.append(txn.txn_id)
            continue
        expected = pricing.rate.fee(txn.amount)
        capped = pricing.rate.cap is not None and expected >= pricing.rate.cap
        row = totals[txn.rate_class]
        row[0] += 1
        row[1] += txn.amount
        row[2] += txn.fee
        row[3] += expected
        if txn.mcc != contract.mcc:
            mcc_groups[txn.mcc].add(txn, expected, capped)
        elif abs(txn.fee - expected) > tolerance_fen:
            rate_groups[txn.rate_class].add(txn, expected, capped)
            rate_text[txn.rate_class] = (pricing.rate.describe(), pricing.source)
    findings = [_mcc_finding(contract, mcc, g, table) for mcc, g in sorted(mcc_groups.items())]
    findings += [
        _rate_finding(contract, rc, g, *rate_text[rc]) for rc, g in sorted(rate_groups.items())
    ]
    findings += check_caps(
        txns, contract_mcc=contract.mcc, table=table, subject=contract.merchant_id
    )
    by_class = tuple(ClassTotals(rc, *totals[rc]) for rc in RateClass if rc in totals)
    days = [txn.settled_on for txn in txns]
    return FeeAudit(
        merchant_id=contract.merchant_id,
        first_day=min(days) if days else None,
        last_day=max(days) if days else None,
        count=sum(c.count for c in by_class),
        amount_fen=sum(c.amount_fen for c in by_class),
        charged_fen=sum(c.charged_fen for c in by_class),
        expected_fen=sum(c.expected_fen for c in by_class),
        by_class=by_class,
        findings=tuple(findings),
        unpriced=tuple(unpriced),
    )
