"""Alembic environment of the fleet database, driven by posguard.fleet.db.migrate (no ini)."""

from __future__ import annotations

from alembic import context

from posguard.fleet.db.engine import make_engine
from posguard.fleet.db.models import Base

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    config = context.config
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            transaction_per_migration=True,  # a CONCURRENTLY index commits what precedes it
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(str(config.get_main_option("sqlalchemy.url")))
    try:
        with engine.connect() as conn:
            context.configure(
                connection=conn,
                target_metadata=target_metadata,
                render_as_batch=True,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


def _inside_alembic() -> bool:
    try:
        context.config  # noqa: B018 - raises outside an Alembic run (e.g. doctest collection)
    except AttributeError:
        return False
    return True


if _inside_alembic():
    if context.is_offline_mode():
        run_migrations_offline()
    else:
        run_migrations_online()
