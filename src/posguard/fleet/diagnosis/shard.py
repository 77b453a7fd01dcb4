"""What one diagnoser process does: the per-terminal rules for the terminals of shard K of N,
the fleet-wide correlation, or both (the embedded default, one process).

A terminal belongs to shard ``crc32(terminal_id) mod N``: stable across processes and restarts
(Python's ``hash`` is salted per process).

>>> ShardRole.parse(2, 8).owns("T0001") == (zlib.crc32(b"T0001") % 8 == 2)
True
>>> ShardRole().key, ShardRole.parse(2, 8).key, ShardRole.correlator().key
('0/1', '2/8', 'correlator')
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


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
        return self.of == 1 or zlib.crc32(terminal_id.encode()) % self.of == self.shard
