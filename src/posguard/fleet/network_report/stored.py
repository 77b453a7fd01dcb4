"""The rollup's rows (``network_daily``, ``network_hourly``) to and from ``parts.Part``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, Final, cast

from sqlalchemy import Table, and_, or_, select
from sqlalchemy.orm import Session

from posguard.fleet.db.models import NetworkDaily, NetworkHourly
from posguard.fleet.network_report.aggregate import SUMMED
from posguard.fleet.network_report.parts import Part

Span = tuple[datetime, datetime]  # [since, until) within one UTC day
DAILY: Final = cast(Table, NetworkDaily.__table__)
SPANS: Final = cast(Table, NetworkHourly.__table__)


def part_rows(key: dict[str, Any], tid: str, parts: Sequence[Part]) -> list[dict[str, Any]]:
    """``tid``'s rows (``key``: the day, or the span's since/until), pending part first."""
    out = []
    for n, p in enumerate(sorted(parts, key=lambda p: p.key is not None)):
        carrier, link = p.key if p.key is not None else (None, None)
        out.append(
            {
                **key,
                "terminal_id": tid,
                "part": n,
                "carrier": carrier,
                "link": link,
                "first_ts": p.first[0] if p.first else None,
                "first_seq": p.first[1] if p.first else None,
                "last_ts": p.last[0] if p.last else None,
                "last_seq": p.last[1] if p.last else None,
                **{k: getattr(p, k) for k in SUMMED},
                "rtts": {repr(v): c for v, c in p.rtts.items()},
            }
        )
    return out


def _read(
    session: Session, table: Table, keys: Sequence[str], where: Any
) -> dict[Any, dict[str, list[Part]]]:
    cols = table.c
    stmt = (
        select(
            *[cols[k] for k in keys],
            cols.terminal_id,
            cols.carrier,
            cols.link,
            cols.first_ts,
            cols.first_seq,
            cols.last_ts,
            cols.last_seq,
            *[cols[k] for k in SUMMED],
            cols.rtts,
        )
        .where(where)
        .order_by(*[cols[k] for k in keys], cols.terminal_id, cols.part)
        .execution_options(yield_per=10_000)
    )
    out: dict[Any, dict[str, list[Part]]] = {}
    n = len(keys)
    for r in session.execute(stmt):
        key = r[0] if n == 1 else tuple(r[:n])
        tid, carrier, link, first_ts, first_seq, last_ts, last_seq = r[n : n + 7]
        rtts = r[-1]
        if isinstance(rtts, str):
            rtts = json.loads(rtts)
        p = Part(
            key=(carrier, link) if carrier is not None else None,
            first=(first_ts, first_seq) if first_ts is not None else None,
            last=(last_ts, last_seq) if last_ts is not None else None,
            **dict(zip(SUMMED, r[n + 7 : -1], strict=True)),
        )
        p.rtts.update({float(v): c for v, c in rtts.items()})
        out.setdefault(key, {}).setdefault(tid, []).append(p)
    return out


def stored_parts(session: Session, days: Iterable[date]) -> dict[date, dict[str, list[Part]]]:
    """Day -> terminal -> its stored parts (pending first, then keyed ones)."""
    wanted = list(days)
    if not wanted:
        return {}
    return _read(session, DAILY, ["day"], DAILY.c.day.in_(wanted))


def stored_spans(session: Session, spans: Iterable[Span]) -> dict[Span, dict[str, list[Part]]]:
    """Span -> terminal -> its stored parts (pending first, then keyed ones)."""
    wanted = list(spans)
    if not wanted:
        return {}
    c = SPANS.c
    where = or_(*[and_(c.since == a, c.until == b) for a, b in wanted])
    return _read(session, SPANS, ["since", "until"], where)
