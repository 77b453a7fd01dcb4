"""The dashboard's inventory, bulk actions and per-user time zone

- ``terminals.serial`` (nullable): the maker's serial number, searchable in the inventory.
- indexes ``terminals (model, id)``, ``terminals (firmware, id)`` and ``terminals (serial)``:
  the inventory pages by keyset (``ORDER BY <column>, id``) and must not sort the whole
  fleet for each page.
- ``bulk_actions``: one command sent to a group of terminals with one confirmation, at once
  or in stages (``plan``, ``released``, ``state``, ``max_failure``: a first share, then the
  rest, paused by itself when the first stage fails too often); each terminal's command is an
  ordinary ``commands`` row with ``bulk_id`` pointing to it.
- ``user_prefs.time_zone``: the IANA zone a user reads times in (NULL: by language).

Every column is nullable without a default (nothing is rewritten on PostgreSQL) and the
indexes are built concurrently there (``online_ddl``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from posguard.fleet.db import online_ddl

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bulk_actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column(
            "incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("released", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("max_failure", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_bulk_actions_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_actions")),
    )
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("serial", sa.String(length=64), nullable=True))
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "bulk_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_commands_bulk_id_bulk_actions"), "bulk_actions", ["bulk_id"], ["id"]
        )
    with op.batch_alter_table("user_prefs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
    # last: what precedes an index built concurrently is committed before it
    online_ddl.create_index("ix_terminals_serial", "terminals", ["serial"])
    online_ddl.create_index("ix_terminals_model_id", "terminals", ["model", "id"])
    online_ddl.create_index("ix_terminals_firmware_id", "terminals", ["firmware", "id"])
    online_ddl.create_index("ix_commands_bulk_id", "commands", ["bulk_id"])


def downgrade() -> None:
    online_ddl.drop_index("ix_commands_bulk_id", "commands")
    online_ddl.drop_index("ix_terminals_firmware_id", "terminals")
    online_ddl.drop_index("ix_terminals_model_id", "terminals")
    online_ddl.drop_index("ix_terminals_serial", "terminals")
    with op.batch_alter_table("user_prefs", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_commands_bulk_id_bulk_actions"), type_="foreignkey")
        batch_op.drop_column("bulk_id")
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.drop_column("serial")
    op.drop_table("bulk_actions")
