"""Firmware packages (``fleet/packages.py``): an admin uploads, staff list, and a terminal
downloads with its own credential (the one it sends events with) -- only a package made for
its model."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Path, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict

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


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        413: {"description": "larger than package_max_bytes"},
        422: {"description": "not a readable .tar.gz with a VERSION file, or bad form fields"},
    },
)
def upload(
    user: AdminUser,
    ctx: Ctx,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="the .tar.gz `terminal update apply` takes")],
    version: Annotated[str, Form(max_length=64)],
    models: Annotated[list[str], Form(description="target models (repeat, or comma-separated)")],
) -> PackagePublic:
    try:
        row = service.store(
            session,
            file.file,
            service.Upload(file.filename or "", version, models),
            package_dir=ctx.settings.package_dir,
            max_bytes=ctx.settings.package_max_bytes,
            username=user.username,
            now=ctx.clock.now(),
        )
    except service.PackageRefusedError as exc:
        raise HTTPException(exc.status, str(exc)) from None
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
