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
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException


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


def iso_datetime_only(value: Any) -> Any:
    """A query's date-time must be written as one (``2026-11-25T10:00:00Z``), as the schema says:
    not a number of seconds (pydantic would take ``since=0.5`` as 1970-01-01T00:00:00.5)."""
    if isinstance(value, str) and not any(c in value for c in "-:T"):
        raise ValueError("expected an ISO 8601 date-time such as 2026-11-25T10:00:00Z")
    return value


def unprocessable(msg: str, *loc: str | int) -> RequestValidationError:
    """A 422 in the documented shape (``{"detail": [{"loc", "msg", "type"}]}``) saying what is
    wrong and where (``loc``, default the body)."""
    return RequestValidationError(
        [{"type": "value_error", "loc": loc or ("body",), "msg": msg, "input": None}]
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own "error parsing the body" (a body that is not JSON in UTF-8) is a 400 no
    operation documents: it is a 422 like any other unusable body. A 422 raised with a plain
    message gets the documented list shape. Everything else as Starlette writes it."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        return await _validation_error(request, unprocessable("not JSON (UTF-8)"))
    if exc.status_code == 422 and isinstance(exc.detail, str):
        return await _validation_error(request, unprocessable(exc.detail))
    return await http_exception_handler(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _conflict)
    app.add_exception_handler(StarletteHTTPException, _http_error)
