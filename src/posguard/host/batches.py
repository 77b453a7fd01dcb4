"""Each terminal's open batch, as the acquirer keeps it (UnionPay: the batch number is the
host's; the 0810's field 60.2 tells the terminal which one is open).

- At sign-on the host answers its open batch for the terminal. A terminal the host has no
  batch for yet (its first sign-on, or a ledger older than this table) gets the batch it
  asked with, unless the host already settled that batch: then the one after the last
  settled batch.
- Settlement closes the open batch (a balanced 0500, or the end of batch upload after an
  out-of-balance one) and opens the next number (999999 wraps to 000001).
- A card request (0100, 0200, 0220) must be in the open batch; a settlement or batch
  upload (0500, 0320) in the open batch or one already settled (a repeat after a lost
  answer). Anything else is ``77``: the terminal signs on again and learns the open batch.
  Reversals name their original by its batch and are not checked here.

The state lives in the ledger's ``terminal_batches`` table, so it survives a restart; these
functions take only the :class:`~posguard.host.books.BatchBook` they read and write.

>>> next_batch("000041"), next_batch("999999")
('000042', '000001')
"""

from __future__ import annotations

from posguard.host.books import BatchBook

__all__ = ["CARD_MTIS", "SETTLEMENT_MTIS", "assign_at_sign_on", "close", "mismatch", "next_batch"]

#: Requests that book a transaction in the terminal's current batch.
CARD_MTIS = frozenset({"0100", "0200", "0220"})
#: Requests about a whole batch (settlement, batch upload).
SETTLEMENT_MTIS = frozenset({"0320", "0500"})


def _valid(batch: str) -> bool:
    return len(batch) == 6 and batch.isdigit() and int(batch) != 0


def next_batch(batch: str) -> str:
    """The batch number after ``batch``."""
    return f"{int(batch) % 999_999 + 1:06d}"


def assign_at_sign_on(book: BatchBook, tid: str, offered: str) -> str:
    """The open batch to answer in the 0810's 60.2 (opened now when the host has none)."""
    with book.atomic():
        current = book.open_batch(tid)
        if current is not None:
            return current
        batch = offered if _valid(offered) else "000001"
        if book.settlement(tid, batch) is not None:
            last = book.last_settled_batch(tid)
            batch = next_batch(last or batch)
        book.set_open_batch(tid, batch)
        return batch


def mismatch(book: BatchBook, tid: str, mti: str, batch: str) -> str | None:
    """Why a request of ``tid`` in ``batch`` is refused ``77``, or None when it may go on."""
    if mti not in CARD_MTIS and mti not in SETTLEMENT_MTIS:
        return None
    current = book.open_batch(tid)
    if current is None or batch == current:
        return None
    if mti in SETTLEMENT_MTIS and book.settlement(tid, batch) is not None:
        return None
    return f"batch {batch} is not the terminal's open batch {current}: sign on again"


def close(book: BatchBook, tid: str, batch: str) -> str | None:
    """Close ``batch`` when it is ``tid``'s open batch; the host's next batch for the terminal
    (None when ``batch`` was not the open one: a repeat changes nothing)."""
    if book.open_batch(tid) != batch:
        return None
    following = next_batch(batch)
    book.set_open_batch(tid, following)
    return following
