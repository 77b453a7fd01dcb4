"""Reconciliation exceptions (差错): what batch upload found that the host's books and the
terminal's do not agree on. A difference is recorded, with its kind and state, for exception
handling; the cardholder ledger stays as authorised (a settlement never moves money).

Kinds:

- ``missing_on_terminal``: the host approved it, the terminal did not upload it (the
  cardholder is charged; the merchant's batch lacks it);
- ``missing_on_host``: the terminal uploaded it, the host never approved it (nobody was
  charged; the merchant's batch claims it);
- ``amount_differs``: both have it, with different amounts.

>>> from posguard.host.ledger import Txn, Upload
>>> sale = Txn(1, "T1", "M", "000001", "000001", "1201", "sale", "A", "6214***15", 500, "1",
...            "1", "approved", "00", None, 0, "online", "2026-12-01")
>>> def up(amount): return {"000001": Upload("000001", "sale", amount, None, "")}
>>> [d.kind for d in differences("T1", "000001", [sale], up(400))]
[<ExceptionKind.AMOUNT_DIFFERS: 'amount_differs'>]
>>> [d.kind for d in differences("T1", "000001", [sale], {})]
[<ExceptionKind.MISSING_ON_TERMINAL: 'missing_on_terminal'>]
>>> differences("T1", "000001", [sale], up(500))
[]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posguard.host.ledger import Txn, Upload

__all__ = ["ExceptionKind", "ExceptionState", "ReconException", "differences"]


class ExceptionKind(StrEnum):
    MISSING_ON_TERMINAL = "missing_on_terminal"
    MISSING_ON_HOST = "missing_on_host"
    AMOUNT_DIFFERS = "amount_differs"


class ExceptionState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class ReconException:
    tid: str
    batch: str
    stan: str
    kind: ExceptionKind
    txn_kind: str
    host_txn_id: int | None
    host_amount: int | None
    terminal_amount: int | None
    pan_masked: str = ""
    state: ExceptionState = ExceptionState.OPEN
    id: int | None = None
    found_at: str = ""
    #: who resolved it, when (UTC, ISO 8601) and why (``posguard host exceptions resolve``)
    resolved_by: str | None = None
    resolved_at: str | None = None
    resolution: str | None = None


_COUNTED_KINDS = frozenset({"sale", "completion", "refund"})


def _counts(txn: Txn) -> bool:
    return txn.status == "approved" and txn.kind in _COUNTED_KINDS


def differences(
    tid: str, batch: str, host_txns: Iterable[Txn], uploads: Mapping[str, Upload]
) -> list[ReconException]:
    """Every difference between the host's counted transactions of a batch and the terminal's
    upload of it (by STAN), host order first, then the terminal's. A host transaction that does
    not count (declined, reversed, voided) is named in ``host_txn_id`` of a ``missing_on_host``."""
    out: list[ReconException] = []
    seen: set[str] = set()
    others: dict[str, int] = {}
    for txn in host_txns:
        if not _counts(txn):
            others[txn.stan] = txn.id
            continue
        seen.add(txn.stan)
        up = uploads.get(txn.stan)
        if up is None:
            kind: ExceptionKind | None = ExceptionKind.MISSING_ON_TERMINAL
        elif up.amount != txn.amount:
            kind = ExceptionKind.AMOUNT_DIFFERS
        else:
            kind = None
        if kind is not None:
            out.append(
                ReconException(
                    tid,
                    batch,
                    txn.stan,
                    kind,
                    txn.kind,
                    txn.id,
                    txn.amount,
                    None if up is None else up.amount,
                    txn.pan_masked,
                )
            )
    for stan, up in sorted(uploads.items()):
        if stan in seen:
            continue
        out.append(
            ReconException(
                tid,
                batch,
                stan,
                ExceptionKind.MISSING_ON_HOST,
                up.kind,
                others.get(stan),
                None,
                up.amount,
                up.pan_masked,
            )
        )
    return out
