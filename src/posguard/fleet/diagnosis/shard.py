"""What one diagnoser process does: the per-terminal rules for the terminals of shard K of N,
the fleet-wide correlation, or both (the embedded default, one process).

A terminal has a slot, ``crc32(terminal_id) mod 1024``, stable across processes and restarts
(Python's ``hash`` is salted per process) and stored with each of its events and its liveness
row at ingest (``shard_slot``), so a shard's queries select its rows by slot. Shard K of N owns
the slots with ``slot mod N = K`` (for N dividing 1024, the same as ``crc32 mod N = K``).

>>> ShardRole.parse(2, 8).owns("T0001") == (zlib.crc32(b"T0001") % 8 == 2)
True
>>> slot_of("T0001") == zlib.crc32(b"T0001") % SLOTS
True
>>> ShardRole().key, ShardRole.parse(2, 8).key, ShardRole.correlator().key
('0/1', '2/8', 'correlator')
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

SLOTS = 1024
"""Hash slots of the terminals: more than any shard count, fixed forever (stored in rows)."""


def slot_of(terminal_id: str) -> int:
    """The terminal's hash slot, ``crc32(terminal_id) mod 1024``."""
    return zlib.crc32(terminal_id.encode()) % SLOTS


@dataclass(frozen=True, slots=True)
class ShardRole:
    shard: int = 0
    of: int = 1
    per_terminal: bool = True
    correlate: bool = True

    @classmethod
    def parse(cls, shard: int, of: int) -> ShardRole:
        """Shard ``shard`` of ``of``: per-terminal rules only (``of`` = 1: everything)."""
        if of < 1 or not 0 <= shard < of:
            raise ValueError(f"shard {shard} of {of}: need 0 <= K < N")
        return cls(shard, of, per_terminal=True, correlate=of == 1)

    @classmethod
    def correlator(cls) -> ShardRole:
        return cls(0, 1, per_terminal=False, correlate=True)

    @property
    def key(self) -> str:
        """Its row in ``diagnosis_state``."""
        return f"{self.shard}/{self.of}" if self.per_terminal else "correlator"

    def owns(self, terminal_id: str) -> bool:
        return self.of == 1 or self.owns_slot(slot_of(terminal_id))

    def owns_slot(self, slot: int) -> bool:
        return self.of == 1 or slot % self.of == self.shard

    @property
    def filtered(self) -> bool:
        """Whether this role reads only some slots' rows (a per-terminal shard of N > 1)."""
        return self.per_terminal and self.of > 1
