"""Reconcile the host's ledger against the terminal's journal, transaction by transaction.

The terminal never imports the host: ``host_rows`` is anything with ``stan``, ``batch``,
``kind``, ``amount`` and ``status`` (the host simulator's ledger rows fit; so does a row read
from a real acquirer's report). A clean run returns ``[]``.

>>> from types import SimpleNamespace as Row
>>> row = Row(stan="000001", batch="000001", kind="sale", amount=100, status="approved")
>>> [(d.kind, d.stan, d.host) for d in reconcile([row], [])]
[('host_only', '000001', 'approved 100')]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from posguard.terminal.journal.records import Kind, Record, TxnState

# Host statuses under which the transaction itself stands (it was approved, not reversed).
_HOST_EFFECTIVE = frozenset({"approved", "voided", "completed"})


class HostRow(Protocol):
    @property
    def stan(self) -> str: ...
    @property
    def batch(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def status(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement. ``kind`` is one of: ``host_only`` (host charged, terminal has no
    record), ``charged_not_completed`` (host has it standing, terminal did not complete it),
    ``completed_not_charged``, ``amount``, ``void``, ``reversal_pending``, ``advice_pending``."""

    kind: str
    stan: str
    batch: str
    host: str
    terminal: str
    detail: str = ""

    def __repr__(self) -> str:
        return (
            f"Difference(kind={self.kind!r}, stan={self.stan!r}, batch={self.batch!r}, "
            f"host={self.host!r}, terminal={self.terminal!r}, ...)"
        )


def _t(rec: Record) -> str:
    return f"{rec.state.value}{' voided' if rec.voided else ''} {rec.amount}"


def reconcile(host_rows: Iterable[HostRow], journal: Iterable[Record]) -> list[Difference]:
    """Every difference between what the host holds and what the terminal journal holds."""
    host = {(r.stan, r.batch): r for r in host_rows if r.kind != Kind.BALANCE.value}
    out: list[Difference] = []
    seen: set[tuple[str, str]] = set()
    for rec in journal:
        if rec.kind is Kind.BALANCE:
            continue
        key = (rec.stan, rec.batch)
        seen.add(key)
        h = host.get(key)
        hdesc = f"{h.status} {h.amount}" if h is not None else "-"
        if rec.state is TxnState.REVERSAL_PENDING or rec.state in (
            TxnState.SENDING,
            TxnState.APPROVED,
        ):
            out.append(Difference("reversal_pending", rec.stan, rec.batch, hdesc, _t(rec)))
            continue
        if rec.state is TxnState.ADVICE_PENDING:
            out.append(Difference("advice_pending", rec.stan, rec.batch, hdesc, _t(rec)))
            continue
        done = rec.state is TxnState.COMPLETED
        standing = h is not None and h.status in _HOST_EFFECTIVE
        if standing and not done:
            out.append(Difference("charged_not_completed", rec.stan, rec.batch, hdesc, _t(rec)))
        elif done and not standing:
            out.append(Difference("completed_not_charged", rec.stan, rec.batch, hdesc, _t(rec)))
        elif done and h is not None:
            if h.amount != rec.amount:
                out.append(Difference("amount", rec.stan, rec.batch, hdesc, _t(rec)))
            elif rec.voided != (h.status == "voided"):
                out.append(Difference("void", rec.stan, rec.batch, hdesc, _t(rec)))
    for key, h in host.items():
        if key not in seen and h.status in _HOST_EFFECTIVE:
            out.append(Difference("host_only", key[0], key[1], f"{h.status} {h.amount}", "-"))
    return out
