"""The fleet's web dashboard: server-rendered pages (Jinja2) with htmx for live fragments.

Mounted by the fleet app through ``posguard.fleet.web.routes.router`` (see
``posguard.fleet.api.app.OPTIONAL_ROUTERS``); everything lives under ``/ui``.
"""
