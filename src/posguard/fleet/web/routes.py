"""The dashboard's one router (``/ui``), as ``posguard.fleet.api.app`` mounts it."""

from __future__ import annotations

from fastapi import APIRouter

from posguard.fleet.web.pages import (
    admin,
    admin_merchants,
    admin_register,
    auth,
    bulk,
    commands,
    incident_workflow,
    incidents,
    inventory,
    network,
    notify_admin,
    overview,
    packages,
    prediction,
    reports,
    settings,
    static,
    terminals,
    timeline,
    training,
    troubleshoot,
)

router = APIRouter(include_in_schema=False)
_PAGES = (static, auth, overview, incidents, incident_workflow, commands, terminals, troubleshoot)
for _page in (
    *_PAGES,
    reports,
    network,
    training,
    prediction,
    notify_admin,
    inventory,
    bulk,
    packages,
    timeline,
    settings,
    admin_register,  # before admin: /ui/admin/terminals/new is not a terminal id
    admin_merchants,
    admin,
):
    router.include_router(_page.router)
