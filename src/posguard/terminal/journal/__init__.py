"""The terminal journal: SQLite (WAL, synchronous=FULL), one atomic write per state change."""

from posguard.terminal.journal.records import Kind, Record, Totals, TxnState
from posguard.terminal.journal.store import Journal

__all__ = ["Journal", "Kind", "Record", "Totals", "TxnState"]
