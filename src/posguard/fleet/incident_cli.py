"""`posguard fleet incident show | ack | assign | note | resolve | reopen`: the incident
workflow from a shell, through the same service as the API and the dashboard
(``fleet.incident_actions``), as a named staff user (``--as``), recorded with origin ``cli``.

Notifications are enqueued as from the API (the hook is installed when
``POSGUARD_NOTIFY_CONFIG`` is set); the API workers deliver them. A refusal is one line on
stderr in the user's language (``--lang``): exit 1 for the incident's state or a cause still
showing (repeat with ``--force``), 2 for a wrong request, 4 for an unknown incident or user,
5 for a database that does not answer."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from secrets import token_urlsafe
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import SecretStr

from posguard.cli_support.errors import CliError, ExitCode, FaceApp
from posguard.cli_support.lang import LangOption
from posguard.fleet.cli_errors import fleet_errors, fleet_settings, not_found
from posguard.fleet.cli_text import say
from posguard.fleet.incident_policy import RESOLUTION_REASONS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from posguard.fleet.context import FleetContext
    from posguard.fleet.db.models import Incident
    from posguard.fleet.incident_actions import Actor

app = FaceApp(help="Work on incidents / 处理故障工单.", no_args_is_help=True)

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: POSGUARD_FLEET_DATABASE_URL)."),
]
AsOpt = Annotated[str, typer.Option("--as", help="The ops or admin user acting / 操作人.")]
REASONS_HELP = "One of: " + ", ".join(RESOLUTION_REASONS) + "."
IdArg = Annotated[int, typer.Argument(min=1, help="Incident id.")]


def _refused(en: str, code: ExitCode = ExitCode.FINDINGS) -> CliError:
    """A refusal of the workflow; its reason comes from the workflow, in English."""
    return CliError(en, en.replace("incident ", "工单 ", 1), exit_code=code)


@contextlib.contextmanager
def _context(db: str | None) -> Iterator[FleetContext]:
    from posguard.fleet.context import FleetContext
    from posguard.fleet.notify.service import install_hook

    settings = fleet_settings(db)
    if settings.jwt_secret is None and not settings.jwt_keys:
        # this command signs no tokens: a throwaway key keeps FleetContext from warning
        # about an unset secret on every run (the API's warning is for the API)
        settings = settings.model_copy(update={"jwt_secret": SecretStr(token_urlsafe(32))})
    with fleet_errors("incident", "工单"):
        ctx = FleetContext.build(settings)
        install_hook(ctx)  # a ConfigError: one line, exit 2
    try:
        yield ctx
    finally:
        ctx.close()


def _run(
    db: str | None,
    incident_id: int,
    lang: str | None,
    do: Callable[[FleetContext, Session, Incident], None],
) -> None:
    """Load the incident, run ``do`` in one transaction, print the incident as it is then; a
    refusal of the workflow is one line (exit 1 for the state or a cause still showing, 2 for
    a wrong request)."""
    from posguard.fleet.incident_actions import CauseStillActiveError
    from posguard.fleet.incident_actions import TransitionRefusedError as Refused
    from posguard.fleet.repo.incidents import get_incident

    with (
        _context(db) as ctx,
        fleet_errors(f"incident {incident_id}", f"工单 {incident_id}"),
        ctx.sessions.begin() as session,
    ):
        inc = get_incident(session, incident_id=incident_id)
        if inc is None:
            raise not_found(f"incident {incident_id} not found", f"工单 {incident_id} 不存在")
        try:
            do(ctx, session, inc)
        except CauseStillActiveError as exc:
            raise _refused(f"incident {incident_id}: {exc.message} (--force)") from None
        except Refused as exc:
            code = ExitCode.USAGE if exc.invalid else ExitCode.FINDINGS
            raise _refused(f"incident {incident_id}: {exc.message}", code) from None
        typer.echo(_describe(ctx, session, inc, lang or "zh"))


def _actor(session: Session, username: str) -> Actor:
    """The enabled user ``--as`` names, acting from the CLI (exit 4 when there is none)."""
    from posguard.fleet.incident_actions import Actor
    from posguard.fleet.repo.users import Role, get_user

    user = get_user(session, username=username)
    if user is None or user.disabled:
        raise not_found(
            f"--as {username}: no enabled user of that name",
            f"--as {username}：没有这个名字的启用用户",
        )
    return Actor(user.username, Role(user.role), "cli")


def _act(
    db: str | None,
    incident_id: int,
    as_user: str,
    lang: str | None,
    action: Callable[..., object],
    *,
    from_context: Callable[[FleetContext], dict[str, object]] | None = None,
    **args: object,
) -> None:
    """One step of the workflow (a function of ``fleet.incident_actions``) on the incident,
    as ``as_user``, now: ``action(session, incident=, actor=, now=, **args)``, plus the
    arguments ``from_context`` reads once the fleet context is up (the catalog, the policy),
    so that their errors are the command's one line too."""

    def do(ctx: FleetContext, session: Session, inc: Incident) -> None:
        extra = from_context(ctx) if from_context is not None else {}
        actor = _actor(session, as_user)
        action(session, incident=inc, actor=actor, now=ctx.clock.now(), **args, **extra)

    _run(db, incident_id, lang, do)


def _describe(ctx: FleetContext, session: Session, inc: Incident, lang: str) -> str:
    from posguard.fleet.incident_policy import get_policy
    from posguard.fleet.web.workflow_view import fmt_duration, sla_status

    lines = [
        f"#{inc.id} {inc.code} {inc.severity} {inc.status} {inc.scope}",
        f"{say('assignee', lang)}: {inc.assignee or '-'}",
    ]
    if inc.resolution_reason:
        reason = f"{inc.resolution_reason} {inc.resolution_note or ''}".rstrip()
        lines.append(f"{say('resolution', lang)}: {reason}")
    sla = sla_status(inc, get_policy(), ctx.clock.now())
    if sla is not None:
        for name, c in (("ack", sla.ack), ("resolve", sla.resolve)):
            left = fmt_duration(c.remaining_s if c.state.value == "running" else c.overdue_s)
            target = fmt_duration(c.target_s)
            line = say("sla_line", lang, state=c.state.value, left=left, target=target)
            lines.append(f"{say('sla_' + name, lang)}: {line}")
    return "\n".join(lines)


@app.command()
def show(incident_id: IdArg, db: DbOpt = None, lang: LangOption = None) -> None:
    """The incident, its SLA and its audit log / 查看工单和处理记录."""
    from posguard.fleet import audit

    def do(_ctx: FleetContext, session: Session, inc: Incident) -> None:
        for e in audit.entries(session, incident_id=inc.id):
            when = e.at.strftime("%Y-%m-%d %H:%M:%SZ")
            typer.echo(f"{when}\t{e.action}\t{e.actor}\t{e.origin}\t{e.details}")

    _run(db, incident_id, lang, do)


@app.command()
def ack(incident_id: IdArg, as_user: AsOpt, db: DbOpt = None, lang: LangOption = None) -> None:
    """Acknowledge / 受理."""
    from posguard.fleet.incident_actions import acknowledge

    _act(db, incident_id, as_user, lang, acknowledge)


@app.command()
def assign(
    incident_id: IdArg,
    assignee: Annotated[str, typer.Argument(help="user:<name> or team:<id>")],
    as_user: AsOpt,
    db: DbOpt = None,
    lang: LangOption = None,
) -> None:
    """Assign to a user or a team / 指派."""
    from posguard.fleet.incident_actions import assign as assign_to
    from posguard.fleet.incident_policy import get_policy

    _act(
        db, incident_id, as_user, lang, assign_to, assignee=assignee,
        from_context=lambda _ctx: {"policy": get_policy()},
    )  # fmt: skip


@app.command()
def note(
    incident_id: IdArg,
    text: Annotated[str, typer.Argument(help="The note.")],
    as_user: AsOpt,
    db: DbOpt = None,
    lang: LangOption = None,
) -> None:
    """Add a note / 添加备注."""
    from posguard.fleet.incident_actions import add_note

    _act(db, incident_id, as_user, lang, add_note, text=text)


@app.command()
def resolve(
    incident_id: IdArg,
    reason: Annotated[str, typer.Option(help=REASONS_HELP)],
    as_user: AsOpt,
    text: Annotated[str, typer.Option(help="Details (required with other).")] = "",
    force: Annotated[bool, typer.Option(help="Resolve although the cause still shows.")] = False,
    db: DbOpt = None,
    lang: LangOption = None,
) -> None:
    """Resolve with a reason / 按原因解决."""
    from posguard.fleet.incident_actions import resolve as resolve_it

    _act(
        db, incident_id, as_user, lang, resolve_it, reason=reason, text=text, force=force,
        from_context=lambda ctx: {"catalog": ctx.catalog},
    )  # fmt: skip


@app.command()
def reopen(
    incident_id: IdArg,
    reason: Annotated[str, typer.Option(help="Why it is reopened.")],
    as_user: AsOpt,
    db: DbOpt = None,
    lang: LangOption = None,
) -> None:
    """Reopen a resolved incident / 重新打开."""
    from posguard.fleet.incident_actions import reopen as reopen_it

    _act(db, incident_id, as_user, lang, reopen_it, reason=reason)
