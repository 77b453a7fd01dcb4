"""Where each terminal sits in the fleet (acquirer host, area), for fleet-wide correlation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Placement:
    merchant_id: str
    acquirer_host: str
    area: str


class TerminalDirectory:
    """terminal_id -> placement, and how many terminals each host and area has."""

    def __init__(self, placements: Iterable[tuple[str, Placement]] = ()) -> None:
        self._where: dict[str, Placement] = dict(placements)
        self._recount()

    def _recount(self) -> None:
        self._sizes: dict[str, Counter[str]] = {
            "acquirer_host": Counter(p.acquirer_host for p in self._where.values()),
            "area": Counter(p.area for p in self._where.values()),
        }

    def replace(self, placements: Iterable[tuple[str, Placement]]) -> None:
        self._where = dict(placements)
        self._recount()

    def place(self, terminal_id: str) -> Placement | None:
        return self._where.get(terminal_id)

    def group_of(self, terminal_id: str, dimension: str) -> str | None:
        p = self._where.get(terminal_id)
        if p is None:
            return None
        return p.acquirer_host if dimension == "acquirer_host" else p.area

    def size(self, dimension: str, value: str) -> int:
        return self._sizes[dimension][value]

    def __len__(self) -> int:
        return len(self._where)
