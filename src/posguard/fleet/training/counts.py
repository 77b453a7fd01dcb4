"""Operator-error counts from the fleet's events: per merchant and operator, the live
transactions and the ``OPS.*`` faults the terminals reported (catalog category ``operator``).

Practice (``training: true`` in the event's data) counts nowhere: training mode is where errors
are supposed to happen. A transaction event names its operator when the terminal has one
(``operator``); errors always do. Rates are per 1,000 live transactions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import EventRow

PREFIX: Final = "OPS."
WHOLE_SHOP: Final = ""  # the operator key of a merchant's totals


@dataclass
class Tally:
    """Live transactions and operator errors by code, for one merchant (or one operator)."""

    transactions: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def per_1000(self, code: str) -> float:
        return (
            round(1000.0 * self.errors[code] / self.transactions, 2) if self.transactions else 0.0
        )

    def rate_of(self, codes: Iterable[str]) -> float | None:
        if not self.transactions:
            return None
        return round(1000.0 * sum(self.errors[c] for c in codes) / self.transactions, 2)


@dataclass
class Counts:
    """``by[(merchant, operator)]`` with operator :data:`WHOLE_SHOP` for the merchant's totals,
    and the fleet's totals."""

    fleet: Tally = field(default_factory=Tally)
    by: dict[tuple[str, str], Tally] = field(default_factory=dict)

    def _tally(self, merchant: str, operator: str) -> Tally:
        t = self.by.get((merchant, operator))
        if t is None:
            t = self.by[(merchant, operator)] = Tally()
        return t

    def add(self, merchant: str, kind: str, code: str | None, data: dict[str, Any]) -> None:
        if data.get("training") is True:
            return
        operator = str(data.get("operator") or "")
        keys = [(merchant, WHOLE_SHOP)] + ([(merchant, operator)] if operator else [])
        if kind == "transaction":
            self.fleet.transactions += 1
            for k in keys:
                self._tally(*k).transactions += 1
        elif kind == "fault" and code is not None and code.startswith(PREFIX):
            self.fleet.errors[code] += 1
            for k in keys:
                self._tally(*k).errors[code] += 1


def count(
    session: Session, *, since: datetime, until: datetime, merchant_id: str | None = None
) -> Counts:
    """Counts of the window [since, until), for one merchant or the whole fleet."""
    stmt = select(EventRow.merchant_id, EventRow.kind, EventRow.code, EventRow.data).where(
        EventRow.ts >= since,
        EventRow.ts < until,
        or_(
            EventRow.kind == "transaction",
            (EventRow.kind == "fault") & EventRow.code.like(f"{PREFIX}%"),
        ),
    )
    if merchant_id is not None:
        stmt = stmt.where(EventRow.merchant_id == merchant_id)
    out = Counts()
    for merchant, kind, code, data in session.execute(stmt.execution_options(yield_per=5000)):
        out.add(merchant, kind, code, data or {})
    return out
