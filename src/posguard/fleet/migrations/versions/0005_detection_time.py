"""Both times of an incident and of a rule's command: when it happened and when it was detected

- ``incidents.detected_at``: when the diagnoser decided to open it (``opened_at`` stays the
  time of the event that opened it). NULL for incidents opened before this revision.
- ``commands.detected_at``: for a command a rule issued when it opened an incident, when the
  diagnoser did so (``issued_at`` stays the time of the event that caused it); NULL for a
  command an operator issued (its ``issued_at`` is when they did).

Both are nullable columns without a default: on PostgreSQL adding them rewrites nothing and
holds the table's lock for an instant only.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detected_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detected_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_column("detected_at")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("detected_at")
