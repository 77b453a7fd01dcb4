"""The dashboard's one router (``/ui``), as ``posguard.fleet.api.app`` mounts it."""

from __future__ import annotations

from fastapi import APIRouter

from posguard.fleet.web.pages import (
    auth,
    commands,
    incidents,
    overview,
    prediction,
    reports,
    static,
    terminals,
    troubleshoot,
)

router = APIRouter(include_in_schema=False)
for _page in (
    static,
    auth,
    overview,
    incidents,
    commands,
    terminals,
    troubleshoot,
    reports,
    prediction,
):
    router.include_router(_page.router)
