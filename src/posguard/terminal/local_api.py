"""The running service's local interface: the cash register (ECR) on the same machine asks the
service for a sale, so the terminal that is supervised is the one that sells.

A Unix socket, ``<data_dir>/service.sock``, mode 0600 (only the service's own user may
connect; nothing listens on the network). One JSON object per line each way::

    -> {"op": "sale", "pan": "...", "expiry": "YYMM", "amount": 1234}
    -> {"op": "sale", ..., "reader": {"failures": 2, "fallback": true}}   # the reader's tries
    <- {"outcome": "approved", "kind": "sale", "amount": 1234, "masked_pan": "6225********1234",
        "rc": "00", "code": null, "stan": "000012", ...}
    <- {"error": "amount must be a positive whole number of fen"}

The answer carries the masked PAN only. Requests run through the service's own
``Terminal`` (one operation at a time, its journal, its reversals), so a sale here is
written ahead, reversed and reported exactly as any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from posguard.terminal.result import Outcome, TransactionResult
from posguard.terminal.runtime import Terminal

SOCKET_NAME: Final = "service.sock"
MAX_REQUEST: Final = 4096
READ_TIMEOUT: Final = 10.0


class LocalApiError(Exception):
    """The service could not be asked (not running, no answer, a refused request)."""


def result_to_dict(result: TransactionResult) -> dict[str, Any]:
    data = asdict(result)
    data.pop("explanation", None)
    data["outcome"] = result.outcome.value
    return data


def result_from_dict(data: dict[str, Any]) -> TransactionResult:
    fields = {k: v for k, v in data.items() if k in TransactionResult.__dataclass_fields__}
    fields["outcome"] = Outcome(fields["outcome"])
    fields.pop("explanation", None)
    return TransactionResult(**fields)


def _sale_args(req: dict[str, Any]) -> tuple[str, str, int, str]:
    pan, expiry, amount = req.get("pan"), req.get("expiry"), req.get("amount")
    entry = req.get("entry_mode", "051")
    if not isinstance(pan, str) or not pan.isdigit():
        raise ValueError("pan must be a string of digits")
    if not isinstance(expiry, str) or len(expiry) != 4 or not expiry.isdigit():
        raise ValueError("expiry must be YYMM")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError("amount must be a positive whole number of fen")
    if not isinstance(entry, str) or len(entry) != 3 or not entry.isdigit():
        raise ValueError("entry_mode must be 3 digits")
    return pan, expiry, amount, entry


def _reader_args(req: dict[str, Any]) -> tuple[int, bool]:
    """The optional ``reader`` object: ``failures`` (failed tries before this read, 0-20) and
    ``fallback`` (a chip card that had to be swiped)."""
    reader = req.get("reader", {})
    if not isinstance(reader, dict):
        raise ValueError("reader must be an object {failures, fallback}")
    failures = reader.get("failures", 0)
    fallback = reader.get("fallback", False)
    if not isinstance(failures, int) or isinstance(failures, bool) or not 0 <= failures <= 20:
        raise ValueError("reader.failures must be a whole number from 0 to 20")
    if not isinstance(fallback, bool):
        raise ValueError("reader.fallback must be true or false")
    return failures, fallback


class LocalApi:
    """Serves sale requests on a Unix socket for as long as the service runs."""

    def __init__(
        self, terminal: Terminal, path: Path, *, on_card: Callable[..., None] | None = None
    ) -> None:
        self.terminal = terminal
        self.path = path
        self.on_card = on_card  # the reader's tries, for the wear counters (terminal/wear.py)
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        # the runtime lock is held: a socket file left here is a dead service's
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._handle, path=str(self.path), limit=MAX_REQUEST
            )
        finally:
            os.umask(old)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {"error": "request is not one JSON object on one line"}
        if not isinstance(req, dict):
            return {"error": "request is not a JSON object"}
        if req.get("op") != "sale":
            return {"error": f"unknown op {req.get('op')!r}: only 'sale'"}
        try:
            pan, expiry, amount, entry = _sale_args(req)
            failures, fallback = _reader_args(req)
        except ValueError as exc:
            return {"error": str(exc)}
        if self.on_card is not None:
            self.on_card(failures=failures, fallback=fallback)
        result = await self.terminal.sale(pan, expiry, amount, entry_mode=entry)
        return result_to_dict(result)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT)
            answer = await self._answer(line)
        except (TimeoutError, ValueError, asyncio.LimitOverrunError):
            answer = {"error": f"no complete request line (at most {MAX_REQUEST} bytes) in time"}
        try:
            writer.write(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the register hung up; the sale's outcome is in the journal and the outbox
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def request_sale(
    path: Path, pan: str, expiry: str, amount: int, *, timeout: float = 180.0
) -> TransactionResult:
    """The register's side: one sale through the running service (LocalApiError if it cannot)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 5)
    except (OSError, TimeoutError) as exc:
        raise LocalApiError(
            f"the terminal service is not running or not reachable at {path}: {exc}"
        ) from exc
    try:
        request = {"op": "sale", "pan": pan, "expiry": expiry, "amount": amount}
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    except (OSError, TimeoutError) as exc:
        raise LocalApiError(f"no answer from the terminal service at {path}: {exc}") from exc
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    try:
        answer = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LocalApiError(f"the terminal service answered no JSON: {line[:80]!r}") from exc
    if "error" in answer:
        raise LocalApiError(f"the terminal service refused the sale: {answer['error']}")
    return result_from_dict(answer)
