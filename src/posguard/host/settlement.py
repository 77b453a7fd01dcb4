"""Settlement totals (field 48 of 0500/0510, UnionPay layout): debit amount (12) + debit count
(3) + credit amount (12) + credit count (3), then a one-digit flag (``0`` in requests; ``1``
balanced, ``2`` out of balance, ``3`` error in answers).

>>> t = Totals(2, 1500, 1, 200)
>>> t.encode()
'000000001500002000000000200001'
>>> Totals.decode(t.encode() + "0") == t
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from posguard.common.errors import MessageDecodeError
from posguard.host.ledger import Txn, TxnStatus
from posguard.iso8583.operations import CREDITS, DEBITS

__all__ = ["Totals"]


@dataclass(frozen=True, slots=True)
class Totals:
    debit_count: int
    debit_amount: int
    credit_count: int
    credit_amount: int

    def encode(self) -> str:
        return (
            f"{self.debit_amount:012d}{self.debit_count:03d}"
            f"{self.credit_amount:012d}{self.credit_count:03d}"
        )

    @classmethod
    def decode(cls, text: str) -> Totals:
        body = text[:30]
        if len(body) != 30 or not body.isdigit():
            raise MessageDecodeError("settlement totals must be 30 digits", field="48")
        return cls(int(body[12:15]), int(body[0:12]), int(body[27:30]), int(body[15:27]))

    @staticmethod
    def counts(txn: Txn) -> int:
        """+1 when ``txn`` counts as a debit, -1 as a credit, 0 when it does not count."""
        if txn.status not in (TxnStatus.APPROVED,):
            return 0
        if txn.kind in DEBITS:
            return 1
        return -1 if txn.kind in CREDITS else 0

    @classmethod
    def of(cls, txns: Iterable[Txn]) -> Totals:
        dc = da = cc = ca = 0
        for t in txns:
            sign = cls.counts(t)
            if sign > 0:
                dc, da = dc + 1, da + t.amount
            elif sign < 0:
                cc, ca = cc + 1, ca + t.amount
        return cls(dc, da, cc, ca)

    def __str__(self) -> str:
        return (
            f"{self.debit_count} debits {self.debit_amount}, "
            f"{self.credit_count} credits {self.credit_amount}"
        )
