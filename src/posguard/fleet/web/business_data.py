"""Business figures an acquirer watches, from the ``transaction`` events of a date range: per
acquirer host, per area and per issuer (the BIN, the first six digits of the masked PAN the
event carries; a PAN is never stored in clear, so never read).

One grouped read of the range's transaction events (with the terminal's area, merchant-scoped
in SQL) and one pass over it feeds all three tables. The acquirer host is the one the fleet
registered the terminal with (``terminals.acquirer_host``, as host-wide incidents group). An
*approval* is ``outcome: approved``; training sales are left out. A *failover* is a
transaction the terminal's backup host answered: the event's ``failover: true`` (the runtime
sets it as it sets the heartbeat's, from the host that answered); an event without the flag
is not counted as one.

>>> acc = Business()
>>> acc.add("acq-east", "pudong", {"outcome": "approved", "masked_pan": "621234******1232"})
>>> acc.add("acq-east", "pudong", {"outcome": "approved", "failover": True})
>>> acc.add("acq-west", "xuhui", {"outcome": "declined", "rc": "51"})
>>> [(r.key, r.count, r.approval_rate, r.failover_share) for r in acc.rows("host")]
[('acq-east', 2, 1.0, 0.5), ('acq-west', 1, 0.0, 0.0)]
>>> [(r.key, r.count) for r in acc.rows("issuer")]
[('621234', 1), ('unknown', 2)]
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import EventRow, Terminal

UNKNOWN: Final = "unknown"
GROUPS: Final = ("host", "area", "issuer")


@dataclass(frozen=True, slots=True)
class BusinessRow:
    key: str
    count: int
    approved: int
    failover: int

    @property
    def approval_rate(self) -> float | None:
        return round(self.approved / self.count, 4) if self.count else None

    @property
    def failover_share(self) -> float | None:
        return round(self.failover / self.count, 4) if self.count else None


def issuer_bin(masked_pan: object) -> str:
    """The first six digits of a masked PAN (``621234******1232`` -> ``621234``), else
    ``unknown``: only a BIN, never more of the number.

    >>> issuer_bin("621234******1232"), issuer_bin("62**"), issuer_bin(None)
    ('621234', 'unknown', 'unknown')
    """
    head = str(masked_pan or "")[:6]
    return head if len(head) == 6 and head.isdigit() else UNKNOWN


class Business:
    """Counts per group, added one transaction at a time."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, list[int]]] = {
            g: defaultdict(lambda: [0, 0, 0]) for g in GROUPS
        }

    def add(self, host: str, area: str, data: dict[str, Any]) -> None:
        failover = data.get("failover") is True
        approved = data.get("outcome") == "approved"
        for group, key in (
            ("host", host or UNKNOWN),
            ("area", area or UNKNOWN),
            ("issuer", issuer_bin(data.get("masked_pan"))),
        ):
            c = self._counts[group][key]
            c[0] += 1
            c[1] += approved
            c[2] += failover

    def rows(self, group: str) -> list[BusinessRow]:
        return [BusinessRow(k, *c) for k, c in sorted(self._counts[group].items())]


def business(
    session: Session, *, merchant_id: str | None, since: datetime, until: datetime
) -> dict[str, list[BusinessRow]]:
    """The three tables (``host``, ``area``, ``issuer``) of ``[since, until)``."""
    q = (
        select(Terminal.acquirer_host, Terminal.area, EventRow.data)
        .join(Terminal, Terminal.id == EventRow.terminal_id)
        .where(EventRow.kind == "transaction", EventRow.ts >= since, EventRow.ts < until)
    )
    if merchant_id is not None:
        q = q.where(EventRow.merchant_id == merchant_id, Terminal.merchant_id == merchant_id)
    acc = Business()
    for host, area, data in session.execute(q.execution_options(yield_per=5000)):
        if not isinstance(data, dict) or data.get("training"):
            continue
        acc.add(host or "", area or "", data)
    return {g: acc.rows(g) for g in GROUPS}
