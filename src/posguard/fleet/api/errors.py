"""Error answers that can always be written.

FastAPI's default 422 answer echoes the offending input as UTF-8 JSON; a lone surrogate
(``"\\ud800"``, valid JSON text but not encodable as UTF-8) then breaks the handler itself
and the client gets a 500. Escaping non-ASCII in error bodies keeps them valid JSON for any
input.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: encodable whatever the content."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


async def _conflict(_request: Request, exc: Exception) -> AsciiJSONResponse:
    """A write that broke a uniqueness or foreign-key rule (two requests creating the same row
    at once): ``409``, naming the constraint when the driver says it, never the SQL."""
    assert isinstance(exc, IntegrityError)
    diag = getattr(exc.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    detail = "conflicts with the current state (a row with that key exists, or one it names "
    detail += "does not)" + (f": {constraint}" if constraint else "")
    return AsciiJSONResponse(status_code=409, content={"detail": detail})


async def _validation_error(_request: Request, exc: Exception) -> AsciiJSONResponse:
    assert isinstance(exc, RequestValidationError)
    return AsciiJSONResponse(status_code=422, content={"detail": jsonable_encoder(exc.errors())})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _conflict)
