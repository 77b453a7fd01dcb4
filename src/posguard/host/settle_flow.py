"""Settlement (0500), batch upload (0320, 60.3 ``201``) and its end (60.3 ``202``), over a
:class:`~posguard.host.books.SettlementBook`.

UnionPay practice, as the terminal and the host here follow it:

- 0500 carries the terminal's totals (field 48). In balance: ``00`` with field 48's
  reconciliation code (对账应答代码) ``1``, and the batch is closed
  (:func:`posguard.host.batches.close`). Out of balance: ``95`` with code ``2``, the batch stays
  open and the terminal uploads its batch; uploads of an earlier round are dropped.
- Each 0320 remembers one transaction as the terminal has it.
- The end of upload compares the upload with the host's batch. The cardholder ledger is never
  changed: every difference is recorded for exception handling (差错处理,
  :mod:`posguard.host.recon`). The answer is ``00`` (the batch is closed) with code ``1`` in
  balance or ``2`` not in balance.

Each function runs in one transaction of the book (:meth:`BatchBook.atomic`).
"""

from __future__ import annotations

from posguard.card import mask_pan
from posguard.host import batches
from posguard.host.books import SettlementBook
from posguard.host.decisions import Decision
from posguard.host.ledger import Upload
from posguard.host.recon import differences
from posguard.host.settlement import Totals
from posguard.iso8583.fields import SettlementFlag
from posguard.iso8583.operations import TxnKind

__all__ = ["end_upload", "host_totals", "settle", "upload"]


def host_totals(book: SettlementBook, tid: str, batch: str) -> Totals:
    """Debits (sales + completions still standing) and credits (refunds) of a batch."""
    return Totals.of(book.batch_txns(tid, batch))


def settle(book: SettlementBook, tid: str, batch: str, terminal: Totals) -> Decision:
    """0500: compare the terminal's totals with the book's; ``00`` and reconciliation code ``1``
    balanced (the batch is closed: :func:`batches.close`), ``95`` and ``2`` not (it stays open
    for the batch upload, which starts afresh: uploads of an earlier round are dropped)."""
    with book.atomic():
        host = host_totals(book, tid, batch)
        balanced = host == terminal
        book.record_settlement(tid, batch, terminal.encode(), host.encode(), balanced)
        book.clear_uploads(tid, batch)
        if balanced:
            following = batches.close(book, tid, batch)
            closed = f"; batch closed, next {following}" if following else ""
            return Decision(
                "00",
                "settlement in balance" + closed,
                totals=host,
                settle_flag=SettlementFlag.BALANCED,
            )
        return Decision(
            "95",
            f"out of balance: host {host}, terminal {terminal}",
            totals=host,
            settle_flag=SettlementFlag.OUT_OF_BALANCE,
        )


def upload(
    book: SettlementBook,
    tid: str,
    batch: str,
    kind: TxnKind,
    stan: str,
    amount: int,
    pan: str | None,
) -> Decision:
    """0320 (60.3 201): remember one transaction as the terminal has it."""
    with book.atomic():
        ref = book.refs.ref(pan) if pan else None
        book.record_upload(tid, batch, Upload(stan, kind.value, amount, ref, mask_pan(pan or "")))
        return Decision("00", f"batch upload of {kind.value} STAN {stan} recorded")


def end_upload(book: SettlementBook, tid: str, batch: str) -> Decision:
    """End of upload (0320, 60.3 202): compare the upload with the book's batch. The book is
    never changed: every difference is recorded for exception handling (差错处理), and the
    answer is ``00`` (the batch is closed) with field 48's reconciliation code ``1`` in
    balance or ``2`` not in balance. A repeated end of upload (its answer was lost) is
    answered the same and changes nothing: the uploads stay until the next 0500."""
    with book.atomic():
        settled = book.settlement(tid, batch)
        if settled is None:
            return Decision("12", "batch upload without a settlement request")
        if book.upload_ended(tid, batch):
            balanced = settled[2]
            return Decision(
                "00",
                "repeated end of batch upload: answered as before, nothing recorded",
                totals=host_totals(book, tid, batch),
                settle_flag=SettlementFlag.BALANCED if balanced else SettlementFlag.OUT_OF_BALANCE,
            )
        diffs = differences(tid, batch, book.batch_txns(tid, batch), book.uploads(tid, batch))
        new = sum(book.record_exception(d) for d in diffs)
        host = host_totals(book, tid, batch)
        terminal = Totals.decode(settled[0])
        balanced = host == terminal and not diffs
        book.record_settlement(tid, batch, settled[0], host.encode(), balanced, upload_ended=True)
        following = batches.close(book, tid, batch)
        closed = f"; batch closed, next {following}" if following else ""
        if balanced:
            return Decision(
                "00",
                "batch upload: in balance" + closed,
                totals=host,
                settle_flag=SettlementFlag.BALANCED,
            )
        return Decision(
            "00",
            f"batch upload: not in balance (host {host}, terminal {terminal}); "
            f"{len(diffs)} differences for exception handling ({new} new){closed}",
            totals=host,
            settle_flag=SettlementFlag.OUT_OF_BALANCE,
        )
