"""The dashboard's static files (CSS, the small page script, vendored htmx), served from the
package with a strong cache header: the file list is fixed at import, so no path is ever
read from the request."""

from __future__ import annotations

import hashlib
from importlib.resources import files

from fastapi import APIRouter, Request, Response

from posguard.fleet.web.render import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)

_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
_NAMES = ("app.css", "app.js", "htmx.min.js")


def _load() -> dict[str, tuple[bytes, str, str]]:
    out = {}
    base = files("posguard.fleet.web") / "static"
    for name in _NAMES:
        data = (base / name).read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        out[name] = (data, _TYPES[name[name.rfind(".") :]], etag)
    return out


_FILES = _load()


@router.get("/ui/static/{name}")
def static_file(name: str, request: Request) -> Response:
    found = _FILES.get(name)
    if found is None:
        return Response("not found", status_code=404, media_type="text/plain")
    data, media_type, etag = found
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)
