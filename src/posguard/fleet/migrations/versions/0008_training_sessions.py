"""Training sessions held with a merchant's staff (issue 20: who needs training on what)

- ``training_sessions``: one row per session: the merchant, the operator trained (NULL: the
  whole shop), the topics (catalog ``OPS.*`` codes), when it was held, who held it. The
  training list compares each topic's error rate before and after it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from posguard.fleet.db import online_ddl

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "training_sessions",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("operator", sa.String(length=16), nullable=True),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trainer", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_training_sessions_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_sessions")),
    )
    online_ddl.create_index(
        "ix_training_sessions_merchant_id", "training_sessions", ["merchant_id"]
    )


def downgrade() -> None:
    online_ddl.drop_index("ix_training_sessions_merchant_id", "training_sessions")
    op.drop_table("training_sessions")
