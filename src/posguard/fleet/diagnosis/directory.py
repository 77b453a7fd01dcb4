"""Where each terminal sits (acquirer host, area, model), for fleet-wide correlation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Placement:
    merchant_id: str
    acquirer_host: str
    area: str
    model: str = ""


class TerminalDirectory:
    """terminal_id -> placement, and how many terminals each host, area and model has."""

    def __init__(self, placements: Iterable[tuple[str, Placement]] = ()) -> None:
        self._where: dict[str, Placement] = dict(placements)
        self._recount()

    def _recount(self) -> None:
        self._sizes: dict[str, Counter[str]] = {
            "acquirer_host": Counter(p.acquirer_host for p in self._where.values()),
            "area": Counter(p.area for p in self._where.values()),
            "model": Counter(p.model for p in self._where.values() if p.model),
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
        if dimension == "acquirer_host":
            return p.acquirer_host
        if dimension == "model":
            return p.model or None
        return p.area

    def size(self, dimension: str, value: str) -> int:
        return self._sizes[dimension][value]

    def __len__(self) -> int:
        return len(self._where)
