"""One structured log line and the HTTP metrics for every request (pure ASGI middleware).

``fleet.http.request`` carries the method, the route *template*
(``/api/v1/incidents/{incident_id}``, never the raw path or query: a PAN typed into a URL must
not reach the log), the status, the
duration in milliseconds and the user (``request.state.user``: a username, ``terminal:ID`` or
none). Health checks and scrapes are logged at debug level. The same labels feed
``posguard_fleet_http_requests_total`` and ``posguard_fleet_http_request_seconds``.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from posguard.fleet.metrics import HTTP_REQUESTS, HTTP_SECONDS

log = structlog.get_logger("posguard.fleet.http")

QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def route_template(scope: Scope) -> str:
    """The matched route's path template, ``unmatched`` when no route matched (a 404)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the answer started

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = str(scope.get("method", ""))
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_SECONDS.labels(method, route).observe(seconds)
            state: dict[str, Any] = scope.get("state") or {}
            emit = log.debug if route in QUIET_ROUTES else log.info
            emit(
                "fleet.http.request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(seconds * 1000, 2),
                user=state.get("user"),
            )
