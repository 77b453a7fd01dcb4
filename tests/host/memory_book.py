"""An in-memory :class:`~posguard.host.books.SettlementBook` (and so a ``BatchBook``) for the
pure tests of batch keeping and settlement: no SQLite, no sockets.

It keeps the transactions it is given as a tuple it never changes, logs every write by name,
and refuses a write outside :meth:`MemoryBook.atomic` (the ledger's rule: writes run inside
one transaction).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from posguard.host.ledger import Txn, TxnStatus, Upload
from posguard.host.recon import ReconException

__all__ = ["MemoryBook", "PlainRefs", "txn"]


class PlainRefs:
    """A stand-in for the keyed PAN hash: ``ref:`` + the PAN, easy to read in an assertion."""

    def ref(self, pan: str) -> bytes:
        return b"ref:" + pan.encode()


def txn(
    txn_id: int,
    stan: str,
    amount: int,
    *,
    kind: str = "sale",
    status: str = TxnStatus.APPROVED,
    tid: str = "10000001",
    batch: str = "000042",
) -> Txn:
    """A transaction row of ``tid``'s ``batch`` as the ledger would hold it."""
    return Txn(
        txn_id,
        tid,
        "898310000000001",
        stan,
        batch,
        "1202",
        kind,
        "ACC-1",
        "621483*********0015",
        amount,
        f"{txn_id:012d}",
        "123456",
        status,
        "00" if status == TxnStatus.APPROVED else "51",
        None,
        0,
        "online",
        "2026-12-02",
    )


@dataclass
class MemoryBook:
    """Books held in dicts. ``settled`` maps (tid, batch) to (terminal totals, host totals,
    in balance, upload ended)."""

    txns: tuple[Txn, ...] = ()
    open_batches: dict[str, str] = field(default_factory=dict)
    settled: dict[tuple[str, str], tuple[str, str, bool, bool]] = field(default_factory=dict)
    uploaded: dict[tuple[str, str], dict[str, Upload]] = field(default_factory=dict)
    recorded: dict[tuple[str, str, str, str], ReconException] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    refs: PlainRefs = field(default_factory=PlainRefs)
    _depth: int = 0

    @contextmanager
    def atomic(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def _write(self, name: str) -> None:
        assert self._depth > 0, f"{name} written outside a transaction"
        self.writes.append(name)

    # -- BatchBook ----------------------------------------------------------------------------

    def open_batch(self, tid: str) -> str | None:
        return self.open_batches.get(tid)

    def set_open_batch(self, tid: str, batch: str) -> None:
        self._write("set_open_batch")
        self.open_batches[tid] = batch

    def settlement(self, tid: str, batch: str) -> tuple[str, str, bool] | None:
        found = self.settled.get((tid, batch))
        return found[:3] if found is not None else None

    def last_settled_batch(self, tid: str) -> str | None:
        return max((b for t, b in self.settled if t == tid), default=None)

    # -- SettlementBook -----------------------------------------------------------------------

    def batch_txns(self, tid: str, batch: str) -> list[Txn]:
        return [t for t in self.txns if (t.tid, t.batch) == (tid, batch)]

    def record_settlement(
        self,
        tid: str,
        batch: str,
        terminal_totals: str,
        host_totals: str,
        in_balance: bool,
        *,
        upload_ended: bool = False,
    ) -> None:
        self._write("record_settlement")
        self.settled[(tid, batch)] = (terminal_totals, host_totals, in_balance, upload_ended)

    def upload_ended(self, tid: str, batch: str) -> bool:
        found = self.settled.get((tid, batch))
        return found is not None and found[3]

    def record_upload(self, tid: str, batch: str, upload: Upload) -> None:
        self._write("record_upload")
        self.uploaded.setdefault((tid, batch), {})[upload.stan] = upload

    def uploads(self, tid: str, batch: str) -> dict[str, Upload]:
        return dict(self.uploaded.get((tid, batch), {}))

    def clear_uploads(self, tid: str, batch: str) -> None:
        self._write("clear_uploads")
        self.uploaded.pop((tid, batch), None)

    def record_exception(self, exc: ReconException) -> bool:
        self._write("record_exception")
        key = (exc.tid, exc.batch, exc.stan, exc.kind.value)
        if key in self.recorded:
            return False
        self.recorded[key] = exc
        return True
