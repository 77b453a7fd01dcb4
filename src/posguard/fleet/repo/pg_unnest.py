"""Many rows in one PostgreSQL statement whose text does not depend on how many:
``INSERT INTO t (cols) SELECT .. FROM unnest(CAST(:c AS type[]), ..)``, one array a column.

SQLAlchemy writes many rows as a multi-row ``VALUES`` (its "insertmanyvalues"): the text grows
with the rows, so psycopg parses it again on every call (it caches only short statements), and
at fleet scale that parsing was most of a diagnoser's CPU (~135 µs a row for incidents, against
~25 µs here). Types come from the table's own columns; a JSON column travels as text and is cast
back, so the rows keep the values an ORM insert would write.

>>> from posguard.fleet.db.models import IncidentEvent
>>> links = UnnestInsert(IncidentEvent.__table__, ("incident_id", "event_id"),
...                      tail="ON CONFLICT DO NOTHING")
>>> links.params([{"incident_id": 1, "event_id": 7}, {"incident_id": 1, "event_id": 8}])
{'incident_id': [1, 1], 'event_id': [7, 8]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Integer, String, Table, Text
from sqlalchemy.engine import Result
from sqlalchemy.orm import Session
from sqlalchemy.sql.type_api import TypeEngine


def _pg_type(column_type: TypeEngine[Any]) -> str:
    impl = getattr(column_type, "impl", column_type)  # a TypeDecorator's underlying type
    if isinstance(impl, JSON):
        return "json"
    if isinstance(impl, Boolean):
        return "boolean"
    if isinstance(impl, BigInteger):
        return "bigint"
    if isinstance(impl, Integer):
        return "integer"
    if isinstance(impl, Float):
        return "double precision"
    if isinstance(impl, DateTime):
        return "timestamptz" if impl.timezone else "timestamp"
    if isinstance(impl, String | Text):
        return "text"
    raise TypeError(f"no array type for a column of type {column_type!r}")


class UnnestInsert:
    """The statement for ``columns`` of ``table``; ``tail``: what follows the SELECT (``ON
    CONFLICT ..``, ``RETURNING ..``), written by the caller from the model's own names."""

    def __init__(self, table: Any, columns: Sequence[str], *, tail: str = "") -> None:
        assert isinstance(table, Table)
        self.columns = tuple(columns)
        types = {c: _pg_type(table.c[c].type) for c in self.columns}
        self.json = frozenset(c for c, t in types.items() if t == "json")
        # binary arrays (%(name)b): in text format psycopg escapes every element in Python
        arrays = ", ".join(
            f"CAST(%({c})b AS {'text' if c in self.json else types[c]}[])" for c in self.columns
        )
        picked = ", ".join(f"CAST({c} AS json)" if c in self.json else c for c in self.columns)
        names = ", ".join(self.columns)
        # identifiers from the model, values only as bound arrays
        self.statement = (
            f"INSERT INTO {table.name} ({names}) SELECT {picked} "  # noqa: S608
            f"FROM unnest({arrays}) AS u({names}) {tail}".rstrip()
        )

    def params(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for c in self.columns:
            values = [r[c] for r in rows]
            if c in self.json:
                values = [None if v is None else json.dumps(v) for v in values]
            out[c] = values
        return out

    def execute(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> Result[Any]:
        """Run it in the session's transaction (flushing the session first, as a query would)."""
        session.flush()
        return session.connection().exec_driver_sql(self.statement, self.params(rows))
