"""The terminal inventory page (``/ui/inventory``) and its CSV export, streamed in keyset chunks
so a 100,000-terminal download never sits in memory or in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.context import FleetContext
from posguard.fleet.web.csv_export import csv_bytes, csv_lines
from posguard.fleet.web.formatting import Formatter
from posguard.fleet.web.i18n import translator
from posguard.fleet.web.inventory import (
    PAGE_SIZES,
    SORTS,
    STATUSES,
    InventoryQuery,
    describe,
    iter_matching,
    terminals_page,
)
from posguard.fleet.web.option_cache import (
    cached_filter_options,
    cached_merchant_names,
    firmware_by_model,
    firmware_options,
)
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import WebUser, WebUserDep

router = APIRouter(route_class=PageRoute, include_in_schema=False)

CSV_CHUNK = 500
MAX_MERCHANT_OPTIONS = 500
PRINTER_STATES = frozenset(
    {"ok", "paper_low", "paper_out", "cover_open", "cutter_jam", "overheat", "hardware_fault"}
    | {"offline", "wrong_profile"}
)  # the terminal's PrinterStatus values, translated as printer.<state>


@router.get("/ui/inventory")
def inventory_page(request: Request, ctx: Ctx, session: SessionDep, user: WebUserDep) -> Response:
    q = InventoryQuery.from_query(request.query_params, user.merchant_scope)
    now = ctx.clock.now()
    page = terminals_page(session, q, now=now, catalog=ctx.catalog, lang=user.lang)
    options = cached_filter_options(session, merchant_scope=user.merchant_scope, now=now)
    if len(options["merchant"]) > MAX_MERCHANT_OPTIONS:
        # thousands of <option>s cost more than the page: the search box finds merchants
        options = {**options, "merchant": []}
    data: dict[str, Any] = {
        "q": q,
        "filters": q.filters,
        "page": page,
        "options": options,
        "merchant_names": cached_merchant_names(
            session,
            ids=options["merchant"],
            merchant_scope=user.merchant_scope,
            now=now,
            lang=user.lang,
        ),
        "firmwares": firmware_options(session, merchant_scope=user.merchant_scope, now=now),
        "statuses": STATUSES,
        "sorts": tuple(SORTS),
        "sizes": PAGE_SIZES,
        "printer_states": PRINTER_STATES,
        "versions": firmware_by_model(session, merchant_scope=user.merchant_scope, now=now),
    }
    return render(request, "inventory.html", data, user=user)


def _csv_chunks(ctx: FleetContext, q: InventoryQuery, user: WebUser) -> Iterator[bytes]:
    t = translator(user.lang)
    header = [
        t("inventory.col.terminal"),
        t("inventory.col.serial"),
        t("terminal.merchant"),
        t("inventory.col.merchant_name"),
        t("terminal.brand"),
        t("terminal.model"),
        t("terminal.firmware"),
        t("terminal.host"),
        t("terminal.area"),
        t("inventory.col.status"),
        t("terminal.last_seen"),
        t("terminal.printer"),
        t("terminal.reversals"),
        t("inventory.col.open_incidents"),
    ]
    yield csv_bytes(header, [])
    with ctx.sessions() as session:
        now = ctx.clock.now()
        fmt = Formatter(user.lang, user.time_zone, now)
        for chunk in iter_matching(session, q, now=now, catalog=ctx.catalog, chunk=CSV_CHUNK):
            rows = describe(session, chunk, now=now, catalog=ctx.catalog, lang=user.lang)
            yield csv_lines(
                [
                    [
                        r.terminal.id,
                        r.terminal.serial,
                        r.terminal.merchant_id,
                        r.merchant_name,
                        r.terminal.brand,
                        r.terminal.model,
                        r.terminal.firmware,
                        r.terminal.acquirer_host,
                        r.terminal.area,
                        t("health." + r.health.value),
                        fmt.time(r.last_seen) if r.last_seen else "",
                        r.printer,
                        r.pending_reversals,
                        r.open_incidents,
                    ]
                    for r in rows
                ]
            )
            session.expunge_all()


@router.get("/ui/inventory.csv")
def inventory_csv(request: Request, ctx: Ctx, user: WebUserDep) -> Response:
    """Every matching terminal (no paging), in the page's order and language."""
    q = InventoryQuery.from_query(request.query_params, user.merchant_scope).first_page()
    day = ctx.clock.now().date().isoformat()
    return StreamingResponse(
        _csv_chunks(ctx, q, user),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="posguard-terminals-{day}.csv"',
            "Cache-Control": "no-store",
        },
    )
