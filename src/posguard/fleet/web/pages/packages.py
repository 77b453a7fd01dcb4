"""Firmware packages in the dashboard: the uploaded packages (staff), an upload form (admin),
and per package a link to roll it out to its models (the bulk action with ``update``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from posguard.fleet import packages as service
from posguard.fleet.api.deps import Ctx, SessionDep
from posguard.fleet.repo.users import Role
from posguard.fleet.web.render import PageRoute, render
from posguard.fleet.web.session import PostUser, WebUserDep, staff_only

router = APIRouter(route_class=PageRoute, include_in_schema=False)

_FORM_OVERHEAD = 64 * 1024


def _length_checked(request: Request, ctx: Ctx) -> None:
    """Refuse an oversized upload from its Content-Length, before the form is read (this runs
    ahead of the CSRF check, which reads the form)."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise HTTPException(status.HTTP_411_LENGTH_REQUIRED, "Content-Length required")
    if int(declared) > ctx.settings.package_max_bytes + _FORM_OVERHEAD:
        raise HTTPException(413, f"a package is at most {ctx.settings.package_max_bytes} bytes")


@router.get("/ui/packages")
def packages_page(request: Request, session: SessionDep, user: WebUserDep) -> Response:
    staff_only(user)
    data = {
        "packages": service.listed(session),
        "can_upload": user.role is Role.ADMIN,
        "done": request.query_params.get("done"),
    }
    return render(request, "packages.html", data, user=user)


@router.post("/ui/packages", dependencies=[Depends(_length_checked)])
async def upload(
    ctx: Ctx,
    session: SessionDep,
    user: PostUser,
    file: UploadFile,
    version: Annotated[str, Form(max_length=64)],
    models: Annotated[str, Form(max_length=500)],
    signature: UploadFile | None = None,
) -> Response:
    if user.role is not Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "forbidden")
    sig = (await signature.read(512)).decode("ascii", "replace").strip() if signature else ""
    try:
        row = await run_in_threadpool(
            service.store,
            session,
            file.file,
            service.Upload(file.filename or "", version, [models], sig or None),
            package_dir=ctx.settings.package_dir,
            max_bytes=ctx.settings.package_max_bytes,
            username=user.username,
            now=ctx.clock.now(),
            trusted_keys=ctx.settings.package_public_keys,
        )
    except service.PackageRefusedError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return RedirectResponse(f"/ui/packages?done={row.sha256}", status_code=303)
