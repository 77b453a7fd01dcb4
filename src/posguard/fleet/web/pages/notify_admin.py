"""The notifications page (operations and administrators): the configured channels (secrets:
where each is looked for and whether it can be read, never the value), a test-send per channel
(``notify.testsend.send_test``, logged like any delivery), and the delivery log with paging and
a state filter (sent, failed, retrying, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import structlog
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from posguard.common.errors import ConfigError
from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.notify.settings import get_notify_settings
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import PostUser, WebUserDep, staff_only

if TYPE_CHECKING:
    from posguard.fleet.notify.config import NotifyConfig

log = structlog.get_logger(__name__)
router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE = "/ui/admin/notifications"
PAGE_SIZE = 50
STATES = ("sent", "failed", "retrying", "pending", "sending", "suppressed")


def _config() -> NotifyConfig | None:
    """The notification configuration, or None when none is set (the channel code is only
    imported when there is one, as in ``notify.service``)."""
    path = get_notify_settings().config
    if path is None:
        return None
    from posguard.fleet.notify.config import load_config

    return load_config(path)


def _tested(session: SessionDep, channel: str) -> tuple[str, str, str] | None:
    """(channel, state, error) of the channel's newest test message, read back from the log
    (the page never echoes text from its URL)."""
    if not channel or len(channel) > 64:
        return None
    from posguard.fleet.notify.outbox import latest_test

    row = latest_test(session, channel=channel)
    if row is None:
        return None
    return row.channel, row.status, row.last_error or ""


@router.get(PAGE)
def notifications_page(request: Request, session: SessionDep, user: WebUserDep) -> Response:
    staff_only(user)
    from posguard.fleet.notify.outbox import delivery_log, shown_state

    qp = request.query_params
    state = qp.get("state") if qp.get("state") in STATES else None
    before = qp.get("before", "")
    before_id = int(before) if before.isdigit() and len(before) < 16 else None
    error = None
    try:
        cfg = _config()
    except ConfigError as exc:
        cfg, error = None, str(exc)
    channels = []
    if cfg is not None:
        from posguard.fleet.notify.summary import summarize

        channels = summarize(cfg)
    rows = delivery_log(session, limit=PAGE_SIZE + 1, status=state, before_id=before_id)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render(
        request,
        "notify_admin.html",
        {
            "configured": cfg is not None,
            "config_error": error,
            "channels": channels,
            "routes": len(cfg.routes) if cfg is not None else 0,
            "rows": [(r, shown_state(r)) for r in rows],
            "state": state or "",
            "states": STATES,
            "older": rows[-1].id if more and rows else None,
            "paged": before_id is not None,
            "tested": _tested(session, qp.get("tested", "")),
        },
        user=user,
    )


@router.post(f"{PAGE}/test")
async def send_test_message(
    ctx: Ctx,
    user: PostUser,
    channel: Annotated[str, Form(max_length=64)],
    recipient: Annotated[str, Form(max_length=320)] = "",
    lang: Annotated[str, Form(max_length=8)] = "zh",
) -> Response:
    """Send a test message through ``channel`` now and come back to the page with the outcome."""
    staff_only(user)
    from urllib.parse import urlencode

    from posguard.fleet.notify.delivery import Notifier
    from posguard.fleet.notify.testsend import send_test

    cfg = _config()
    if cfg is None:
        raise HTTPException(409, "notifications are not configured")
    if lang not in ("zh", "en"):
        raise HTTPException(422, "lang: zh or en")
    notifier = Notifier(ctx.sessions, config=cfg, catalog=ctx.catalog, clock=ctx.clock)
    try:
        result = await send_test(notifier, channel, recipient=recipient.strip(), lang=lang)
    except ConfigError as exc:
        raise HTTPException(422, exc.message) from None
    log.info("notify.test_sent", channel=channel, by=user.username, outcome=result.status.value)
    return RedirectResponse(f"{PAGE}?{urlencode({'tested': channel})}", status_code=303)
