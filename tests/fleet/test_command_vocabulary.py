"""One command vocabulary: every command the terminal agent can run goes through the fleet's
API and comes back to the terminal as a command it parses (``common.commands``).

The drift this guards against was a live bug: the rules and the dashboard offered ``doctor``
while the API refused it with 422, because the names were written in four places.
"""

from __future__ import annotations

from typing import Any

from posguard.common.commands import COMMANDS, Page, RemoteCommand, offered_on
from posguard.fleet.diagnosis.rules import COMMAND_NAMES
from posguard.terminal.agent.commands import Command
from posguard.terminal.agent.handlers import command_handlers

from .conftest import Api


class _Everything:
    """Stands in for every capability, so ``command_handlers`` offers all it knows."""

    async def sign_on(self) -> Any: ...

    async def settle(self) -> Any: ...

    def reprint_last(self, copy: str | None = None) -> Any: ...

    def rollback(self) -> Any: ...


def _terminal_commands() -> set[str]:
    stub: Any = _Everything()

    async def doctor() -> list[Any]:
        return []

    handlers = command_handlers(
        runtime=stub,
        print_queue=stub,
        updater=stub,
        reboot=lambda: None,
        update_config=lambda args: "ok",
        doctor=doctor,
        fetch_package=lambda sha256, size: stub.fetch(sha256, size),
    )
    return {str(name) for name in handlers}


def test_the_terminal_knows_exactly_the_shared_commands() -> None:
    assert _terminal_commands() == {c.value for c in RemoteCommand} == set(COMMAND_NAMES)
    assert set(COMMANDS) == set(RemoteCommand)


def test_every_terminal_command_goes_through_the_api_and_back(api: Api) -> None:
    for name in sorted(_terminal_commands()):
        r = api.client.post(
            "/api/v1/terminals/T1/commands",
            json={"name": name, "args": {}},
            headers=api.headers["ops"],
        )
        assert r.status_code == 201, (name, r.text)
        assert r.json()["name"] == name
    picked = api.client.get(
        "/api/v1/terminals/T1/commands/pending", headers=api.as_terminal("T1")
    ).json()
    assert sorted(Command.model_validate(m).command.value for m in picked) == sorted(
        _terminal_commands()
    )


def test_a_merchant_may_not_issue_any_command(api: Api) -> None:
    r = api.client.post(
        "/api/v1/terminals/T1/commands", json={"name": "doctor"}, headers=api.headers["m01"]
    )
    assert r.status_code == 403


def test_the_dashboard_offers_only_known_commands() -> None:
    assert "doctor" in offered_on(Page.TERMINAL)
    for page in Page:
        assert set(offered_on(page)) <= set(RemoteCommand)
