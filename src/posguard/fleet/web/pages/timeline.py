"""A terminal's timeline: its events newest first as sentences (``web.timeline``), filtered by
kind and paged by keyset on (time, id) — the ``(terminal_id, ts)`` index — as a fragment htmx
swaps in place, and as part of the terminal page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from posguard.catalog.model import Entry
from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.db.models import EventRow
from posguard.fleet.web.inventory import decode_cursor, encode_cursor
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import WebUser, WebUserDep, visible_terminal
from posguard.fleet.web.timeline import KINDS, Line, Raw, page_lines

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE = 50


@dataclass(frozen=True, slots=True)
class Timeline:
    terminal_id: str
    kind: str | None
    lines: list[Line]
    older: str | None  # cursor of the next (older) page
    paged: bool  # not the newest page
    kinds: tuple[str, ...] = KINDS


def timeline(
    session: Session,
    *,
    terminal_id: str,
    query: Mapping[str, str],
    user: WebUser,
    catalog: Mapping[str, Entry],
) -> Timeline:
    kind = query.get("kind") if query.get("kind") in KINDS else None
    before = decode_cursor(query.get("before"))
    q = select(EventRow.id, EventRow.ts, EventRow.kind, EventRow.code, EventRow.data).where(
        EventRow.terminal_id == terminal_id
    )
    if kind:
        q = q.where(EventRow.kind == kind)
    if before is not None:
        try:
            at, last_id = datetime.fromisoformat(before[0]), int(before[1])
        except ValueError:
            raise HTTPException(422, "before") from None
        q = q.where(or_(EventRow.ts < at, and_(EventRow.ts == at, EventRow.id < last_id)))
    rows = session.execute(q.order_by(EventRow.ts.desc(), EventRow.id.desc()).limit(PAGE + 1)).all()
    raws = [Raw(r.id, r.ts, r.kind, r.code, r.data or {}) for r in rows[:PAGE]]
    older = None
    if len(rows) > PAGE and raws:
        older = encode_cursor((raws[-1].ts.isoformat(), str(raws[-1].id)))
    lines = page_lines(
        raws, lang=user.lang, catalog=catalog, merchant=user.merchant_scope is not None
    )
    return Timeline(terminal_id, kind, lines, older, before is not None)


TerminalId = Annotated[str, Path(max_length=64)]


@router.get("/ui/terminals/{terminal_id}/timeline")
def timeline_fragment(
    request: Request, terminal_id: TerminalId, ctx: Ctx, session: SessionDep, user: WebUserDep
) -> Response:
    visible_terminal(session, terminal_id, user)  # 404 unless the reader may see it
    tl = timeline(
        session,
        terminal_id=terminal_id,
        query=request.query_params,
        user=user,
        catalog=ctx.catalog,
    )
    data: dict[str, Any] = {"tl": tl}
    return render(request, "_timeline.html", data, user=user)
