"""What batch keeping and settlement read and write in the host's books, and nothing more.

:mod:`posguard.host.batches` (the open batch at sign-on, the batch check, the close) takes a
:class:`BatchBook`; :mod:`posguard.host.settle_flow` (0500 settlement, 0320 batch upload and its
end) a :class:`SettlementBook`. :class:`posguard.host.ledger.Ledger` satisfies both
structurally; tests pass small in-memory books instead, with no SQLite.

A settlement book has no way to move money (no balance, hold or transaction status): a
settlement or a batch upload never changes what the cardholder was charged.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from posguard.host.ledger import Txn, Upload
    from posguard.host.recon import ReconException

__all__ = ["BatchBook", "CardRefs", "SettlementBook"]


class BatchBook(Protocol):
    """Each terminal's open batch and which of its batches the host has settled."""

    def atomic(self) -> AbstractContextManager[None]:
        """One write transaction: everything inside commits together or not at all."""
        ...

    def open_batch(self, tid: str) -> str | None:
        """The batch the host has open for ``tid`` (None before its first sign-on)."""
        ...

    def set_open_batch(self, tid: str, batch: str) -> None: ...

    def settlement(self, tid: str, batch: str) -> tuple[str, str, bool] | None:
        """The batch's settlement record: terminal totals, host totals, in balance."""
        ...

    def last_settled_batch(self, tid: str) -> str | None:
        """The highest batch number of ``tid`` that has a settlement record."""
        ...


class CardRefs(Protocol):
    """The keyed hash of a PAN, the only form in which the books keep one."""

    def ref(self, pan: str) -> bytes: ...


class SettlementBook(BatchBook, Protocol):
    """A batch's transactions, its settlement record, its batch upload and the differences
    found (reconciliation exceptions, 差错)."""

    @property
    def refs(self) -> CardRefs: ...

    def batch_txns(self, tid: str, batch: str) -> list[Txn]: ...

    def record_settlement(
        self,
        tid: str,
        batch: str,
        terminal_totals: str,
        host_totals: str,
        in_balance: bool,
        *,
        upload_ended: bool = False,
    ) -> None: ...

    def upload_ended(self, tid: str, batch: str) -> bool: ...

    def record_upload(self, tid: str, batch: str, upload: Upload) -> None: ...

    def uploads(self, tid: str, batch: str) -> dict[str, Upload]: ...

    def clear_uploads(self, tid: str, batch: str) -> None: ...

    def record_exception(self, exc: ReconException) -> bool:
        """Record one difference; True when it is new (a repeat is kept as it is)."""
        ...
