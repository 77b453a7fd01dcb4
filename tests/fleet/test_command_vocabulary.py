"""One command vocabulary: every command the terminal agent can run goes through the fleet's
API and comes back to the terminal as a command it parses (``common.commands``).

The drift this guards against was a live bug: the rules and the dashboard offered ``doctor``
while the API refused it with 422, because the names were written in four places.
"""

from __future__ import annotations

from typing import Any

from posguard.catalog import default_catalog
from posguard.common.commands import COMMAND_NAMES, COMMANDS, Page, RemoteCommand, offered_on
from posguard.fleet.bulk import BULK_COMMANDS
from posguard.fleet.diagnosis.rules import load_rules
from posguard.terminal.agent.commands import Command
from posguard.terminal.agent.handlers import command_handlers

from .conftest import Api


class _Everything:
    """Stands in for every capability, so ``command_handlers`` offers all it knows."""

    async def sign_on(self) -> Any: ...

    async def settle(self) -> Any: ...

    def reprint_last(self, copy: str | None = None) -> Any: ...

    def rollback(self) -> Any: ...


# Arguments of the kind each command's spec describes (``CommandSpec.args``), to see them
# arrive at the terminal as sent.
EXAMPLE_ARGS: dict[RemoteCommand, dict[str, Any]] = {
    RemoteCommand.REPRINT: {"copy": "merchant"},
    RemoteCommand.UPDATE_CONFIG: {"agent.heartbeat_s": 30},
    RemoteCommand.UPDATE: {
        "version": "2.2.0",
        "sha256": "ab" * 32,
        "size": 4096,
        "signature": "c2lnbmF0dXJl" * 7,
    },
}


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


def test_the_example_arguments_follow_the_specs() -> None:
    for name, spec in COMMANDS.items():
        named = {a for a in spec.args if not a.startswith("<")}
        assert named <= set(EXAMPLE_ARGS.get(name, {})), name
        assert bool(spec.args) == (name in EXAMPLE_ARGS), name


def test_every_terminal_command_goes_through_the_api_and_back(api: Api) -> None:
    """Each command the terminal knows, with the arguments its spec describes: accepted by
    the API (201) and picked up by the terminal as a command it parses, arguments intact."""
    sent = {}
    for name in sorted(_terminal_commands()):
        args = EXAMPLE_ARGS.get(RemoteCommand(name), {})
        r = api.client.post(
            "/api/v1/terminals/T1/commands",
            json={"name": name, "args": args},
            headers=api.headers["ops"],
        )
        assert r.status_code == 201, (name, r.text)
        assert r.json()["name"] == name
        assert r.json()["args"] == args
        sent[r.json()["id"]] = (name, args)
    picked = api.client.get(
        "/api/v1/terminals/T1/commands/pending", headers=api.as_terminal("T1")
    ).json()
    parsed = [Command.model_validate(m) for m in picked]
    assert {c.command_id: (c.command.value, c.args) for c in parsed} == sent
    assert sorted(c.command.value for c in parsed) == sorted(_terminal_commands())


def test_a_merchant_may_not_issue_any_command(api: Api) -> None:
    """``Issuer.STAFF`` for every command: a merchant is refused each one, even for its own
    terminal, and nothing is queued."""
    for name in RemoteCommand:
        r = api.client.post(
            "/api/v1/terminals/T1/commands",
            json={"name": name.value, "args": EXAMPLE_ARGS.get(name, {})},
            headers=api.headers["m01"],
        )
        assert r.status_code == 403, (name, r.text)
    pending = api.client.get("/api/v1/terminals/T1/commands/pending", headers=api.as_terminal("T1"))
    assert pending.json() == []


def test_a_name_outside_the_vocabulary_is_refused(api: Api) -> None:
    r = api.client.post(
        "/api/v1/terminals/T1/commands", json={"name": "format_disk"}, headers=api.headers["ops"]
    )
    assert r.status_code == 422


def test_the_shipped_rules_and_bulk_commands_use_the_vocabulary() -> None:
    """The rules' actions and the bulk form's choices are names of the one vocabulary."""
    actions = {a.name for rule in load_rules(catalog=default_catalog()) for a in rule.actions}
    assert actions
    assert actions <= COMMAND_NAMES
    assert set(BULK_COMMANDS) <= set(RemoteCommand)


def test_the_dashboard_offers_only_known_commands() -> None:
    assert "doctor" in offered_on(Page.TERMINAL)
    for page in Page:
        assert set(offered_on(page)) <= set(RemoteCommand)
