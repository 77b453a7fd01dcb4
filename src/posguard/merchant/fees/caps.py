"""The regulated fee caps in China since the 2016 reform (发改价格〔2016〕557号), checked
against the breakdown a settlement statement gives (issuer fee, network fee).

* issuer fee (发卡行服务费): at most 0.35% for debit cards, capped at 13 CNY per
  transaction; at most 0.45% for credit cards (no per-transaction cap);
* network fee (网络服务费), merchant (acquirer) side: at most 0.0325%, capped at
  3.25 CNY per transaction;
* non-profit merchants (MCC group ``non_profit``): neither fee may be charged.

Domestic transactions only; the acquirer's own service fee is market-priced and not
capped. The allowed amount is read generously (rounded *up* to the fen), so a statement
is flagged only when it is above every rounding of the cap.

>>> from decimal import Decimal
>>> issuer_fee_cap(1_000_000, CardType.DEBIT)   # 0.35% of 10,000 CNY = 35 -> capped at 13
1300
>>> network_fee_cap(1_000_000)                  # 0.0325% = 3.25 CNY, exactly the cap
325
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

from posguard.catalog.model import Severity
from posguard.merchant.fees.mcc import MccTable, default_mcc_table
from posguard.merchant.fees.model import CardType, SettledTransaction
from posguard.merchant.fees.money import fen_to_yuan, percent_ceiling
from posguard.merchant.findings import Finding
from posguard.merchant.text import t

ISSUER_DEBIT_PERCENT: Final = Decimal("0.35")
ISSUER_DEBIT_CAP_FEN: Final = 1300
ISSUER_CREDIT_PERCENT: Final = Decimal("0.45")
NETWORK_PERCENT: Final = Decimal("0.0325")
NETWORK_CAP_FEN: Final = 325

FEE_CAP_EXCEEDED: Final = "REG.FEE_CAP_EXCEEDED"
"""The catalog code of a fee above its regulated cap (contract-rate changes and foreign-MCC
settlement stay REG.FEE_RATE_CHANGED)."""


def issuer_fee_cap(amount_fen: int, card_type: CardType, *, exempt: bool = False) -> int:
    if exempt:
        return 0
    if card_type is CardType.DEBIT:
        return min(percent_ceiling(amount_fen, ISSUER_DEBIT_PERCENT), ISSUER_DEBIT_CAP_FEN)
    return percent_ceiling(amount_fen, ISSUER_CREDIT_PERCENT)


def network_fee_cap(amount_fen: int, *, exempt: bool = False) -> int:
    if exempt:
        return 0
    return min(percent_ceiling(amount_fen, NETWORK_PERCENT), NETWORK_CAP_FEN)


@dataclass(slots=True)
class _Breach:
    count: int = 0
    excess: int = 0
    first: date | None = None
    last: date | None = None


_COMPONENT = {
    "issuer_fee": ("发卡行服务费", "issuer fee"),
    "network_fee": ("网络服务费", "network fee"),
}


def check_caps(
    txns: Sequence[SettledTransaction],
    *,
    contract_mcc: str,
    subject: str,
    table: MccTable | None = None,
) -> list[Finding]:
    """One REG.FEE_CAP_EXCEEDED finding (kind ``cap_exceeded``) per (component, card type)
    over the regulated cap."""
    exempt = (table or default_mcc_table()).issuer_fee_exempt(contract_mcc)
    breaches: dict[tuple[str, CardType], _Breach] = defaultdict(_Breach)
    for txn in txns:
        if txn.international:
            continue
        checks = (
            (
                "issuer_fee",
                txn.issuer_fee,
                issuer_fee_cap(txn.amount, txn.card_type, exempt=exempt),
            ),
            ("network_fee", txn.network_fee, network_fee_cap(txn.amount, exempt=exempt)),
        )
        for component, charged, allowed in checks:
            if charged is not None and charged > allowed:
                b = breaches[(component, txn.card_type)]
                b.count += 1
                b.excess += charged - allowed
                b.first = txn.settled_on if b.first is None else min(b.first, txn.settled_on)
                b.last = txn.settled_on if b.last is None else max(b.last, txn.settled_on)
    findings: list[Finding] = []
    for (component, card_type), b in sorted(breaches.items()):
        zh, en = _COMPONENT[component]
        rule_zh = "公益类商户免收" if exempt else "超过2016年费改规定的上限"
        rule_en = "not chargeable to a non-profit merchant" if exempt else "above the 2016 cap"
        findings.append(
            Finding(
                code=FEE_CAP_EXCEEDED,
                kind="cap_exceeded",
                severity=Severity.MAJOR,
                subject=subject,
                title=t(f"{zh}超过监管上限", f"{en[:1].upper()}{en[1:]} above the regulated cap"),
                detail=t(
                    f"{b.first}至{b.last}有{b.count}笔{card_type.value}交易的{zh}{rule_zh}，"
                    f"共超出{fen_to_yuan(b.excess)}元。",
                    f"{b.count} {card_type.value} transactions from {b.first} to {b.last} "
                    f"carry an {en} {rule_en}: {fen_to_yuan(b.excess)} CNY in excess.",
                ),
                action=t(
                    "请将结算单交收单机构核对，要求退还超出部分；如不处理可向人民银行分支机构反映。",
                    "Send the statement to the acquirer and ask for the excess back; if it is "
                    "not corrected, report it to the local PBOC branch.",
                ),
                at_stake_fen=b.excess,
                since=b.first,
                until=b.last,
                count=b.count,
            )
        )
    return findings
