"""Firmware packages (``fleet/packages.py``): an admin uploads, staff list, and a terminal
downloads with its own credential (the one it sends events with) -- only a package made for
its model."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from posguard.fleet import packages as service
from posguard.fleet.api.deps import AdminUser, Ctx, SessionDep, StaffUser, TerminalAuth, not_found
from posguard.fleet.db.models import FirmwarePackage

router = APIRouter(prefix="/api/v1/packages", tags=["firmware packages"])


class PackagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sha256: str
    version: str
    size: int
    models: list[str]
    filename: str
    uploaded_by: str
    uploaded_at: datetime


Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


_FORM_OVERHEAD = 64 * 1024  # the multipart framing and the small fields around the file

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "version", "models"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "version": {"type": "string", "maxLength": 64},
                        "models": {"type": "array", "items": {"type": "string"}},
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        411: {"description": "no Content-Length"},
        413: {"description": "larger than package_max_bytes"},
        422: {"description": "not a readable .tar.gz with a VERSION file, or bad form fields"},
    },
    openapi_extra=_UPLOAD_BODY,
)
async def upload(request: Request, user: AdminUser, ctx: Ctx, session: SessionDep) -> PackagePublic:
    """Multipart ``file`` (the .tar.gz ``terminal update apply`` takes), ``version`` (must be
    its VERSION file's) and ``models`` (repeated, or comma-separated). The size is refused from
    Content-Length before anything is read (the admin's check ran first), then again exactly
    while the file is stored."""
    limit = ctx.settings.package_max_bytes
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise HTTPException(status.HTTP_411_LENGTH_REQUIRED, "Content-Length required")
    if int(declared) > limit + _FORM_OVERHEAD:
        raise HTTPException(413, f"upload of {declared} bytes; a package is at most {limit}")
    try:
        form = await request.form(max_files=1, max_fields=20)
    except StarletteHTTPException as exc:  # a malformed multipart body, too many parts
        raise HTTPException(422, f"body: not a usable multipart form ({exc.detail})") from None
    file, version = form.get("file"), form.get("version")
    models = [m for m in form.getlist("models") if isinstance(m, str)]
    if not isinstance(file, UploadFile):
        raise HTTPException(422, "file: the package file is missing")
    if not isinstance(version, str):
        raise HTTPException(422, "version: missing")
    try:
        row = await run_in_threadpool(
            service.store,
            session,
            file.file,
            service.Upload(file.filename or "", version, models),
            package_dir=ctx.settings.package_dir,
            max_bytes=limit,
            username=user.username,
            now=ctx.clock.now(),
        )
    except service.PackageRefusedError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    finally:
        await form.close()
    return PackagePublic.model_validate(row)


@router.get("")
def list_packages(_: StaffUser, session: SessionDep) -> list[PackagePublic]:
    return [PackagePublic.model_validate(p) for p in service.listed(session)]


@router.get(
    "/{sha256}/download",
    response_class=FileResponse,
    responses={
        403: {"description": "not made for this terminal's model, or the terminal is revoked"},
        404: {"description": "no such package"},
    },
)
def download(sha256: Sha256, terminal: TerminalAuth, ctx: Ctx, session: SessionDep) -> FileResponse:
    row = session.get(FirmwarePackage, sha256)
    path = service.path_of(ctx.settings.package_dir, sha256)
    if row is None or not path.is_file():
        raise not_found("package")
    if terminal.model not in row.models:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"package {row.version} is not made for model {terminal.model}",
        )
    return FileResponse(path, media_type="application/gzip", filename=f"{sha256}.tar.gz")
