"""`posguard fleet create-user`: an API / dashboard user."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from posguard.cli_support.errors import CliError
from posguard.cli_support.lang import LangOption
from posguard.fleet.cli_errors import (
    REFUSED,
    fleet_errors,
    fleet_settings,
    not_found,
    require_usable_database,
)
from posguard.fleet.cli_options import DbOpt
from posguard.fleet.cli_text import say


def register(app: typer.Typer) -> None:
    """Add `create-user` to the fleet app."""
    app.command("create-user")(create_user)


def create_user(
    username: str,
    role: Annotated[str, typer.Option(help="admin | ops | merchant")],
    merchant: Annotated[str | None, typer.Option(help="Merchant id (merchant users only).")] = None,
    db: DbOpt = None,
    lang: LangOption = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Create an API user (password hashed with argon2) / 创建用户."""

    from posguard.fleet.db.engine import make_engine, make_sessionmaker
    from posguard.fleet.db.models import Merchant
    from posguard.fleet.repo.users import Role, get_user
    from posguard.fleet.repo.users import create_user as create

    if len(password) < 10:
        raise CliError("--password: at least 10 characters", "--password：密码至少 10 位")
    try:
        role_ = Role(role)
    except ValueError as exc:
        raise CliError(
            f"--role {role}: admin, ops or merchant",
            f"--role {role}：只能是 admin、ops 或 merchant",
        ) from exc
    settings = fleet_settings(db)
    require_usable_database(settings)
    with fleet_errors(f"user {username}"):
        engine = make_engine(settings.database_url)
        try:
            with make_sessionmaker(engine).begin() as session:
                if get_user(session, username=username) is not None:
                    raise CliError(
                        f"user {username} already exists",
                        f"用户 {username} 已存在",
                        exit_code=REFUSED,
                    )
                if merchant is not None and session.get(Merchant, merchant) is None:
                    raise not_found(
                        f"merchant {merchant} does not exist (create it with "
                        "`posguard fleet add-merchant`)",
                        f"商户 {merchant} 不存在（先用 `posguard fleet add-merchant` 创建）",
                    )
                try:
                    create(
                        session,
                        username=username,
                        password=password,
                        role=role_,
                        merchant_id=merchant,
                        now=datetime.now(UTC),
                    )
                except ValueError as exc:
                    raise CliError(f"--merchant: {exc}", f"--merchant 不对：{exc}") from exc
        finally:
            engine.dispose()
    typer.echo(say("user_created", lang, user=username, role=role_.value))
