"""What the message handler needs to know of the acquirer's terminals, and nothing more: a
terminal's keys for its sign-on, the batch it has open, and whether a request's batch is that
one (:mod:`posguard.host.batches`). The handler gets a :class:`TerminalBooks`, not the ledger.
"""

from __future__ import annotations

from typing import Protocol

from posguard.host import batches
from posguard.host.ledger import Ledger, Terminal

__all__ = ["LedgerTerminalBooks", "TerminalBooks"]


class TerminalBooks(Protocol):
    """The acquirer's terminal records as the handler uses them."""

    def terminal(self, tid: str) -> Terminal | None:
        """The terminal's record (master key, MAC algorithm), None when unknown."""
        ...

    def batch_refusal(self, tid: str, mti: str, batch: str) -> str | None:
        """Why a request of ``tid`` in ``batch`` is refused ``77``, or None when it may go on."""
        ...

    def batch_at_sign_on(self, tid: str, offered: str) -> str:
        """The open batch to answer a sign-on with (opened now when the host has none)."""
        ...


class LedgerTerminalBooks:
    """:class:`TerminalBooks` kept in the host's ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def terminal(self, tid: str) -> Terminal | None:
        return self._ledger.terminal(tid)

    def batch_refusal(self, tid: str, mti: str, batch: str) -> str | None:
        return batches.mismatch(self._ledger, tid, mti, batch)

    def batch_at_sign_on(self, tid: str, offered: str) -> str:
        return batches.assign_at_sign_on(self._ledger, tid, offered)
