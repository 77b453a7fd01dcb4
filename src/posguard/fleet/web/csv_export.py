"""CSV downloads that open correctly in Excel, Chinese included: UTF-8 with a byte-order mark,
CRLF line ends, and cells that cannot be read as formulas.

>>> body = csv_bytes(["品牌", "n"], [["Acme", 3], ["=cmd()", None]])
>>> body[:3] == b"\\xef\\xbb\\xbf", body.decode("utf-8-sig").splitlines()
(True, ['品牌,n', 'Acme,3', "'=cmd(),"])
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi.responses import Response

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text  # keep a spreadsheet from running it (CSV injection)
    return text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    return b"\xef\xbb\xbf" + csv_lines([header]) + csv_lines(rows)


def csv_lines(rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows only, UTF-8 without the byte-order mark: the parts of a streamed download after
    its first (``csv_bytes(header, [])``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue().encode("utf-8")


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    return Response(
        csv_bytes(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
