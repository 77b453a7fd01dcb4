"""Firmware packages (``fleet/packages.py``): an admin uploads, staff list, and a terminal
downloads with its own credential (the one it sends events with) -- only a package made for
its model."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, PlainTextResponse
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
    signature: str | None = None


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
                        "signature": {"type": "string", "maxLength": 200},
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
    its VERSION file's), ``models`` (repeated, or comma-separated) and ``signature`` (the
    ``.sig`` text or file of ``posguard fleet package sign``; required when the fleet has
    ``package_public_keys``, and checked against them). The size is refused from
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
    signature = await _signature_text(form.get("signature"))
    try:
        row = await run_in_threadpool(
            service.store,
            session,
            file.file,
            service.Upload(file.filename or "", version, models, signature),
            package_dir=ctx.settings.package_dir,
            max_bytes=limit,
            username=user.username,
            now=ctx.clock.now(),
            trusted_keys=ctx.settings.package_public_keys,
        )
    except service.PackageRefusedError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    finally:
        await form.close()
    return PackagePublic.model_validate(row)


async def _signature_text(value: object) -> str | None:
    """The ``signature`` form field: text, or a small uploaded ``.sig`` file."""
    if isinstance(value, UploadFile):
        raw = await value.read(512)
        return raw.decode("ascii", "replace").strip() or None
    if isinstance(value, str):
        return value.strip()[:512] or None
    return None


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


@router.get(
    "/{sha256}/signature",
    response_class=PlainTextResponse,
    responses={
        403: {"description": "not made for this terminal's model, or the terminal is revoked"},
        404: {"description": "no such package, or it is not signed"},
    },
)
def signature(sha256: Sha256, terminal: TerminalAuth, session: SessionDep) -> PlainTextResponse:
    """The package's Ed25519 signature (base64, one line: a ``.sig`` file's text)."""
    row = session.get(FirmwarePackage, sha256)
    if row is None or not row.signature:
        raise not_found("package signature")
    if terminal.model not in row.models:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"package {row.version} is not made for model {terminal.model}",
        )
    return PlainTextResponse(row.signature + "\n")
