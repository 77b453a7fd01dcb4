"""The dashboard's filters (acquirer host, area, merchant, model, brand), applied to terminals.

A merchant user's scope is forced on top of whatever the URL says.

>>> f = Filters.from_query({"host": "acq-east", "area": "", "x": "y"}, merchant_scope=None)
>>> f.host, f.area, f.query_string()
('acq-east', None, 'host=acq-east')
>>> Filters.from_query({"merchant": "M02"}, merchant_scope="M01").merchant
'M01'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar
from urllib.parse import urlencode

from sqlalchemy import Select

from posguard.fleet.db.models import Terminal

MAX_FILTER_LEN = 128

_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value[:MAX_FILTER_LEN] if value else None


@dataclass(frozen=True, slots=True)
class Filters:
    host: str | None = None
    area: str | None = None
    merchant: str | None = None
    model: str | None = None
    brand: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str], *, merchant_scope: str | None) -> Filters:
        values = {f.name: _clean(query.get(f.name)) for f in fields(cls)}
        if merchant_scope is not None:
            values["merchant"] = merchant_scope
        return cls(**values)

    def any(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def query_string(self) -> str:
        return urlencode({f.name: v for f in fields(self) if (v := getattr(self, f.name))})

    def apply(self, q: _S) -> _S:
        """Narrow a select that already involves :class:`Terminal`."""
        if self.host:
            q = q.where(Terminal.acquirer_host == self.host)
        if self.area:
            q = q.where(Terminal.area == self.area)
        if self.merchant:
            q = q.where(Terminal.merchant_id == self.merchant)
        if self.model:
            q = q.where(Terminal.model == self.model)
        if self.brand:
            q = q.where(Terminal.brand == self.brand)
        return q
