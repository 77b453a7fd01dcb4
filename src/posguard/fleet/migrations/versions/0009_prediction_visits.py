"""prediction_visits: a technician's visit against a maintenance prediction, and what it found

One row per visit: the terminal, the component the prediction named, the risk and the reasons
it gave (as shown when the visit was recorded), when it was visited, by whom, and whether the
wear was there (``confirmed``) or not (``not_confirmed``, a wasted visit). A confirmed visit
with a part replaced makes the score read that part's counters from the visit on
(posguard.fleet.prediction).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from posguard.fleet.db import online_ddl

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "prediction_visits",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("component", sa.String(length=32), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("part_replaced", sa.Boolean(), nullable=False),
        sa.Column("performed_by", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('confirmed', 'not_confirmed')",
            name=op.f("ck_prediction_visits_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
            name=op.f("fk_prediction_visits_terminal_id_terminals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_visits")),
    )
    online_ddl.create_index(
        "ix_prediction_visits_terminal_id_visited_at",
        "prediction_visits",
        ["terminal_id", "visited_at"],
    )


def downgrade() -> None:
    online_ddl.drop_index("ix_prediction_visits_terminal_id_visited_at", "prediction_visits")
    op.drop_table("prediction_visits")
