"""Run the fleet's Alembic migrations programmatically (no alembic.ini; works from a wheel)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util.exc import CommandError
from sqlalchemy import Engine

from posguard.common.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the migrations shipped in the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision`` (default: the newest)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    # not engine.begin(): Alembic runs each revision in a transaction of its own, and a revision
    # that builds an index CONCURRENTLY (db.online_ddl) must be able to leave it
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def downgrade(engine: Engine, revision: str = "base") -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        conn.commit()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: not migrated yet)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate_to(
    engine: Engine, revision: str = "head", *, allow_downgrade: bool = False
) -> tuple[str | None, str]:
    """Bring the database to ``revision``: upgrade when it is newer, downgrade when it is older
    and ``allow_downgrade`` is given, else refuse with a :class:`ConfigError` that says so (an
    older target was once reported as done while nothing happened). Returns (before, after)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    script = ScriptDirectory.from_config(cfg)
    try:
        target = script.get_revision(revision)
    except (CommandError, ResolutionError) as exc:
        known = ", ".join(r.revision for r in script.walk_revisions())
        raise ConfigError(f"unknown revision {revision!r} (known: {known})") from exc
    target_id = "base" if target is None else target.revision
    before = current_revision(engine)
    if before == target_id or (before is None and target_id == "base"):
        return before, target_id
    if before is not None and script.get_revision(before) is None:
        raise ConfigError(f"the database is at revision {before}, which this version does not know")
    older = target_id == "base" or (
        before is not None
        and target_id in {r.revision for r in script.iterate_revisions(before, "base")}
    )
    if older:
        if not allow_downgrade:
            raise ConfigError(
                f"the database is at {before}; {target_id} is older: pass --downgrade to go back "
                "(the newer revisions' tables, columns and indexes are dropped; back up first)"
            )
        downgrade(engine, target_id)
    else:
        upgrade(engine, target_id)
    return before, current_revision(engine) or "base"
