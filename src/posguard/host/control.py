"""The proxy's HTTP control API on 127.0.0.1 (plain asyncio, no framework, one request per
connection):

- ``GET /faults`` -> ``{"faults": [...], "stats": {...}}``
- ``PUT /faults`` with a fault object or a list of them -> replaces the armed faults
- ``POST /faults`` with one fault object -> arms it in addition
- ``DELETE /faults`` -> clears every fault (``DELETE /faults/<kind>`` one kind)

A port fault takes effect before the answer is sent: ``{"kind": "drop_connect"}`` makes new
connects to the proxy time out (NET.CONNECT_TIMEOUT) until ``DELETE /faults/drop_connect``.

Invalid JSON or an invalid fault is answered ``422`` with what is wrong and where; nothing is
changed then (all faults of a PUT are validated before any is armed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from pydantic import TypeAdapter, ValidationError

from posguard.common.validation import field_path
from posguard.host.faults import Fault, FaultKind
from posguard.host.proxy import FaultProxy

__all__ = ["ControlServer"]

log = structlog.get_logger("posguard.host.control")

MAX_BODY = 64 * 1024
_FAULTS = TypeAdapter(list[Fault])
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
}


class ControlServer:
    """HTTP control of one :class:`FaultProxy`."""

    def __init__(self, proxy: FaultProxy, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.proxy = proxy
        self._host, self.port = host, port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_client, self._host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("proxy control API listening", port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await asyncio.wait_for(self._request(reader), timeout=5)
        except (TimeoutError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            status, body = 400, {"error": "malformed HTTP request"}
        payload = json.dumps(body).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(head.encode() + payload)
            await writer.drain()
        writer.close()

    async def _request(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        request_line = (await reader.readline()).decode("latin-1").strip()
        parts = request_line.split()
        if len(parts) != 3:
            return 400, {"error": "malformed request line"}
        method, path = parts[0].upper(), parts[1].split("?")[0].rstrip("/")
        length = 0
        while True:
            line = (await reader.readline()).decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length > MAX_BODY:
            return 413, {"error": f"body over {MAX_BODY} bytes"}
        raw = await reader.readexactly(length) if length else b""
        return self._route(method, path, raw)

    def _route(self, method: str, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        if path == "/faults":
            if method == "GET":
                return 200, self._state()
            if method in ("PUT", "POST"):
                return self._set(raw, replace=method == "PUT")
            if method == "DELETE":
                self.proxy.clear()
                return 200, self._state()
            return 405, {"error": f"{method} not allowed on /faults"}
        if path.startswith("/faults/") and method == "DELETE":
            name = path.removeprefix("/faults/")
            try:
                kind = FaultKind(name)
            except ValueError:
                return 404, {
                    "error": f"no fault kind {name!r}",
                    "kinds": [k.value for k in FaultKind],
                }
            self.proxy.clear(kind)
            return 200, self._state()
        return 404, {"error": f"no route {path}"}

    def _set(self, raw: bytes, *, replace: bool) -> tuple[int, dict[str, Any]]:
        try:
            data = json.loads(raw or b"null")
        except ValueError as exc:
            return 422, {"error": f"body is not JSON: {exc}"}
        items = data if isinstance(data, list) else [data]
        if not replace and len(items) != 1:
            return 422, {"error": "POST takes exactly one fault"}
        try:
            faults = _FAULTS.validate_python(items)
        except ValidationError as exc:
            errors = [{"where": field_path(e["loc"]), "error": e["msg"]} for e in exc.errors()]
            return 422, {"error": "invalid fault", "details": errors}
        if replace:
            self.proxy.clear()
        for fault in faults:
            self.proxy.set_fault(fault)
        return 200, self._state()

    def _state(self) -> dict[str, Any]:
        return {
            "faults": [f.model_dump(mode="json") for f in self.proxy.faults()],
            "stats": dict(self.proxy.stats),
        }
