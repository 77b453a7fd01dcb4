"""The terminal inventory: every terminal, searched, filtered, sorted and paged by keyset.

A page is ``ORDER BY <sort column>, id LIMIT n`` after the last row of the page before (the
cursor), so page 2,000 costs what page 1 costs: each sort column has an index that ends with
``id`` or is the primary key (migration 0010). The columns that come from events (health,
printer, pending reversals, open incidents) are read for the page's terminals only.

A status (health) filter needs every terminal's health: the same classification the overview
counts with (``queries.terminal_health``), which reads only terminals that have any signal,
kept ``HEALTH_TTL`` for the pages that follow.

>>> q = InventoryQuery.from_query({"q": " T10 ", "sort": "model", "order": "desc"}, None)
>>> q.search, q.sort, q.descending, q.query_string()
('T10', 'model', True, 'q=T10&sort=model&order=desc')
>>> InventoryQuery.from_query({"sort": "password"}, None).sort
'id'
>>> c = encode_cursor(("PX-5", "T1002")); decode_cursor(c)
('PX-5', 'T1002')
>>> decode_cursor("!!not-a-cursor") is None
True
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from posguard.catalog.model import Entry
from posguard.fleet.db.models import EventRow, Incident, Merchant, Terminal, TerminalLiveness
from posguard.fleet.web.filters import MAX_FILTER_LEN, Filters
from posguard.fleet.web.health import Health, classify
from posguard.fleet.web.merchant_names import name_column
from posguard.fleet.web.option_cache import remember
from posguard.fleet.web.queries import (
    OPEN,
    latest_printer_states,
    terminal_health,
    terminal_signals,
)
from posguard.fleet.web.terminal_data import REVERSAL_WINDOW, open_reversals

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
SORTS: Mapping[str, Any] = {
    "id": Terminal.id,
    "merchant": Terminal.merchant_id,
    "host": Terminal.acquirer_host,
    "area": Terminal.area,
    "model": Terminal.model,
    "firmware": Terminal.firmware,
}
STATUSES = tuple(h.value for h in Health)
HEALTH_TTL = timedelta(seconds=10)
"""A status filter reuses the fleet's health map this long: paging through "degraded" walks
one stable set, and the overview refreshes every 5 s anyway."""


def encode_cursor(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(text: str | None) -> tuple[str, str] | None:
    """The (sort value, terminal id) a page starts after, or None for anything else."""
    if not text or len(text) > 600:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        return None
    if isinstance(raw, list) and len(raw) == 2 and all(isinstance(v, str) for v in raw):
        return raw[0], raw[1]
    return None


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value[:MAX_FILTER_LEN] or None


@dataclass(frozen=True, slots=True)
class InventoryQuery:
    filters: Filters = field(default_factory=Filters)
    search: str | None = None
    firmware: str | None = None
    status: str | None = None
    sort: str = "id"
    descending: bool = False
    size: int = DEFAULT_PAGE_SIZE
    after: tuple[str, str] | None = None  # the next page starts after this row
    before: tuple[str, str] | None = None  # the previous page ends before this row

    @classmethod
    def from_query(cls, query: Mapping[str, str], merchant_scope: str | None) -> InventoryQuery:
        sort = query.get("sort", "id")
        status = query.get("status")
        try:
            size = int(query.get("size", DEFAULT_PAGE_SIZE))
        except ValueError:
            size = DEFAULT_PAGE_SIZE
        return cls(
            filters=Filters.from_query(query, merchant_scope=merchant_scope),
            search=_clean(query.get("q")),
            firmware=_clean(query.get("firmware")),
            status=status if status in STATUSES else None,
            sort=sort if sort in SORTS else "id",
            descending=query.get("order") == "desc",
            size=size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE,
            after=decode_cursor(query.get("after")),
            before=decode_cursor(query.get("before")),
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The URL parameters of this selection (no cursor), with ``changes`` applied."""
        out: dict[str, str] = {
            f.name: v for f in fields(self.filters) if (v := getattr(self.filters, f.name))
        }
        if self.search:
            out["q"] = self.search
        if self.firmware:
            out["firmware"] = self.firmware
        if self.status:
            out["status"] = self.status
        if self.sort != "id":
            out["sort"] = self.sort
        if self.descending:
            out["order"] = "desc"
        if self.size != DEFAULT_PAGE_SIZE:
            out["size"] = str(self.size)
        for k, v in changes.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = str(v)
        return out

    def query_string(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))

    def selection(self) -> dict[str, str]:
        """What the user selected, for a bulk action's record (no sort, paging or cursor)."""
        return {k: v for k, v in self.params().items() if k not in ("sort", "order", "size")}

    def first_page(self) -> InventoryQuery:
        return replace(self, after=None, before=None)


@dataclass(frozen=True, slots=True)
class Row:
    terminal: Terminal
    merchant_name: str
    health: Health
    last_seen: datetime | None
    printer: str | None
    pending_reversals: int
    open_incidents: int


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[Row]
    total: int
    next_cursor: str | None
    prev_cursor: str | None


def _matching(
    session: Session, q: InventoryQuery, *, now: datetime, catalog: Mapping[str, Entry]
) -> Select[Any]:
    """Terminals matching the search and filters (any order)."""
    stmt = q.filters.apply(select(Terminal))
    if q.firmware:
        stmt = stmt.where(Terminal.firmware == q.firmware)
    if q.search:
        s = q.search
        upper = s + "\uffff"  # a prefix as a range: indexed on both dialects
        names = select(Merchant.id).where(
            or_(
                Merchant.name.contains(s, autoescape=True),
                Merchant.name_zh.contains(s, autoescape=True),
                Merchant.name_en.contains(s, autoescape=True),
                Merchant.id == s,
            )
        )
        stmt = stmt.where(
            or_(
                and_(Terminal.id >= s, Terminal.id < upper),
                and_(Terminal.serial >= s, Terminal.serial < upper),
                Terminal.merchant_id.in_(names),
            )
        )
    if q.status:
        unhealthy: dict[str, Health] = remember(
            session,
            "health",
            q.filters.query_string(),
            now,
            HEALTH_TTL,
            lambda: terminal_health(session, filters=q.filters, now=now, catalog=catalog)[1],
        )
        if q.status == Health.OK.value:
            if unhealthy:
                stmt = stmt.where(Terminal.id.not_in(_inline(list(unhealthy))))
        else:
            chosen = [t for t, h in unhealthy.items() if h.value == q.status]
            stmt = stmt.where(Terminal.id.in_(_inline(chosen)))
    return stmt


def _inline(ids: list[str]) -> Any:
    """The ids written into the statement rather than bound one by one: an outage can leave
    tens of thousands of terminals degraded, past SQLite's 32,766 and PostgreSQL's 65,535
    parameters. Terminal ids are ``[A-Za-z0-9_.:-]`` (``common.events``), quoted anyway."""
    return bindparam("inventory_ids", ids, expanding=True, literal_execute=True)


def _ordered(stmt: Select[Any], q: InventoryQuery, *, backwards: bool) -> Any:
    col = SORTS[q.sort]
    desc = q.descending != backwards
    keys = [col] if q.sort == "id" else [col, Terminal.id]
    return stmt.order_by(*(k.desc() if desc else k.asc() for k in keys))


def _after(stmt: Any, q: InventoryQuery, key: tuple[str, str], *, backwards: bool) -> Any:
    col = SORTS[q.sort]
    value, tid = key
    forward = q.descending == backwards  # ascending walk
    if q.sort == "id":
        return stmt.where(col > tid if forward else col < tid)
    if forward:
        return stmt.where(or_(col > value, and_(col == value, Terminal.id > tid)))
    return stmt.where(or_(col < value, and_(col == value, Terminal.id < tid)))


def _key(q: InventoryQuery, t: Terminal) -> tuple[str, str]:
    return (str(getattr(t, SORTS[q.sort].key)), t.id)


def terminals_page(
    session: Session,
    q: InventoryQuery,
    *,
    now: datetime,
    catalog: Mapping[str, Entry],
    lang: str = "zh",
) -> Page:
    matching = _matching(session, q, now=now, catalog=catalog)
    total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    backwards = q.before is not None and q.after is None
    stmt = _ordered(matching, q, backwards=backwards)
    cursor = q.before if backwards else q.after
    if cursor is not None:
        stmt = _after(stmt, q, cursor, backwards=backwards)
    found = list(session.scalars(stmt.limit(q.size + 1)))
    more = len(found) > q.size
    found = found[: q.size]
    if backwards:
        found.reverse()
    rows = describe(session, found, now=now, catalog=catalog, lang=lang)
    has_next = more if not backwards else True
    has_prev = (cursor is not None) if not backwards else more
    return Page(
        rows=rows,
        total=total,
        next_cursor=encode_cursor(_key(q, found[-1])) if found and has_next else None,
        prev_cursor=encode_cursor(_key(q, found[0])) if found and has_prev else None,
    )


def iter_matching(
    session: Session, q: InventoryQuery, *, now: datetime, catalog: Mapping[str, Entry], chunk: int
) -> Iterator[list[Terminal]]:
    """Every matching terminal in the query's order, ``chunk`` at a time (keyset, so a chunk
    costs the same at the end as at the start)."""
    base = _ordered(_matching(session, q, now=now, catalog=catalog), q, backwards=False)
    cursor: tuple[str, str] | None = None
    while True:
        stmt = base if cursor is None else _after(base, q, cursor, backwards=False)
        found = list(session.scalars(stmt.limit(chunk)))
        if not found:
            return
        yield found
        if len(found) < chunk:
            return
        cursor = _key(q, found[-1])


def describe(
    session: Session,
    terminals: Sequence[Terminal],
    *,
    now: datetime,
    catalog: Mapping[str, Entry],
    lang: str = "zh",
) -> list[Row]:
    """The inventory's columns for these terminals, in a handful of queries keyed by id
    (merchant names in ``lang``)."""
    if not terminals:
        return []
    ids = [t.id for t in terminals]
    names: dict[str, str] = dict(
        session.execute(
            select(Merchant.id, name_column(lang)).where(
                Merchant.id.in_({t.merchant_id for t in terminals})
            )
        ).all()
    )
    seen: dict[str, tuple[datetime, Any]] = {
        tid: (at, data)
        for tid, at, data in session.execute(
            select(
                TerminalLiveness.terminal_id,
                TerminalLiveness.last_heartbeat_at,
                TerminalLiveness.data,
            ).where(TerminalLiveness.terminal_id.in_(ids))
        )
    }
    incidents = dict(
        session.execute(
            select(Incident.terminal_id, func.count())
            .where(Incident.terminal_id.in_(ids), Incident.status.in_(OPEN))
            .group_by(Incident.terminal_id)
        ).all()
    )
    reversal_rows = session.execute(
        select(EventRow.terminal_id, EventRow.ts, EventRow.data, EventRow.code)
        .where(
            EventRow.terminal_id.in_(ids),
            EventRow.kind == "reversal",
            EventRow.ts >= now - REVERSAL_WINDOW,
        )
        .order_by(EventRow.ts, EventRow.id)
    ).all()
    by_terminal: dict[str, list[tuple[Any, ...]]] = {}
    for tid, ts, data, code in reversal_rows:
        by_terminal.setdefault(tid, []).append((ts, data, code))
    printers = latest_printer_states(session, filters=Filters(), now=now, terminal_ids=ids)
    signals = terminal_signals(
        session, filters=Filters(), now=now, catalog=catalog, terminal_ids=ids
    )
    out = []
    for t in terminals:
        at, beat = seen.get(t.id, (None, None))
        printer = printers.get(t.id) or _beat_printer(beat)
        found = signals.get(t.id)
        health = classify(found[0], catalog=catalog, primary_host=found[1]) if found else Health.OK
        out.append(
            Row(
                terminal=t,
                merchant_name=names.get(t.merchant_id, t.merchant_id),
                health=health,
                last_seen=at,
                printer=printer,
                pending_reversals=len(open_reversals(by_terminal.get(t.id, []))),
                open_incidents=int(incidents.get(t.id, 0)),
            )
        )
    return out


def _beat_printer(data: Any) -> str | None:
    value = data.get("printer") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value != "unknown" else None


SILENT_AFTER = timedelta(minutes=10)
"""A terminal whose last heartbeat is older than this reads as silent in the list."""
