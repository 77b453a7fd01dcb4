"""Schema changes that do not block ingest, for use inside an Alembic migration.

On PostgreSQL a plain ``CREATE INDEX`` holds a lock that blocks every insert into the table for
as long as the index takes to build (minutes on a large ``events`` or ``incidents`` table): a
migration run under traffic stops ingest. So the fleet's migrations build and drop indexes
``CONCURRENTLY``, which PostgreSQL allows only outside a transaction: each runs in an Alembic
autocommit block (the migration's work so far is committed first). SQLite has one writer
anyway: there the plain statement runs in the migration's transaction.

A concurrent build that fails (a duplicate for a unique index, a cancelled statement) leaves an
INVALID index behind; :func:`create_index` drops a leftover of the same name first, so running
the migration again repairs it. Put these calls last in ``upgrade()`` and first in
``downgrade()``: what precedes an autocommit block is committed before it.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op


def _postgresql() -> bool:
    return bool(op.get_context().dialect.name == "postgresql")


def create_index(name: str, table: str, columns: Sequence[str], *, unique: bool = False) -> None:
    """``CREATE [UNIQUE] INDEX CONCURRENTLY`` on PostgreSQL, a plain one elsewhere."""
    if not _postgresql():
        op.create_index(op.f(name), table, list(columns), unique=unique)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
        op.create_index(
            op.f(name), table, list(columns), unique=unique, postgresql_concurrently=True
        )


def drop_index(name: str, table: str) -> None:
    """``DROP INDEX CONCURRENTLY`` on PostgreSQL, a plain one elsewhere."""
    if not _postgresql():
        op.drop_index(name, table_name=table)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)


def add_unique_constraint(name: str, table: str, columns: Sequence[str]) -> None:
    """A UNIQUE constraint whose index is built concurrently first (PostgreSQL), then attached
    (``ADD CONSTRAINT .. UNIQUE USING INDEX``: a brief lock, no scan)."""
    if not _postgresql():
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_unique_constraint(op.f(name), list(columns))
        return
    create_index(name, table, columns, unique=True)
    op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{name}"')


def add_check_constraint(name: str, table: str, condition: str) -> None:
    """A CHECK constraint added ``NOT VALID`` (a brief lock) and validated in its own
    transaction, which scans the table without blocking writes (PostgreSQL)."""
    if not _postgresql():
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_check_constraint(op.f(name), condition)
        return
    op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" CHECK ({condition}) NOT VALID')
    with op.get_context().autocommit_block():
        op.execute(f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "{name}"')
