"""Diagnosis that survives restarts: incidents close after they open (CHECK), one incident per
cause (``cause_key``), the diagnoser's cursor per shard, terminal liveness, command expiry

- ``incidents.resolved_at >= opened_at`` as a CHECK constraint; rows written by older code with
  an impossible close time are closed at their open time first (time to resolve 0).
- ``incidents.cause_key`` (rule | scope | the event that opened it), unique: a replay that
  reaches the same decision finds it already taken instead of opening a second incident.
- ``diagnosis_state``: per diagnoser shard, the last event id diagnosed, the ids below it not
  yet seen (out-of-order commits), and when the diagnoser last stepped (its own downtime).
- ``terminal_liveness``: one row per terminal, upserted by each heartbeat.
- ``commands.expires_at``: a command not taken by then is expired, not pending forever.

On PostgreSQL the unique index and the index are built ``CONCURRENTLY`` and the CHECK is
validated after it is added ``NOT VALID`` (posguard.fleet.db.online_ddl): ingest goes on while
the incidents table is indexed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from posguard.fleet.db import online_ddl

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE incidents SET resolved_at = opened_at, time_to_resolve_s = 0 "
        "WHERE resolved_at IS NOT NULL AND resolved_at < opened_at"
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cause_key", sa.String(length=320), nullable=True))
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "diagnosis_state",
        sa.Column("shard", sa.String(length=32), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.Column("last_step_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shard", name=op.f("pk_diagnosis_state")),
    )
    op.create_table(
        "terminal_liveness",
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
            name=op.f("fk_terminal_liveness_terminal_id_terminals"),
        ),
        sa.PrimaryKeyConstraint("terminal_id", name=op.f("pk_terminal_liveness")),
    )
    # last: what precedes an index built concurrently is committed before it
    online_ddl.add_check_constraint(
        "ck_incidents_resolved_after_opened",
        "incidents",
        "resolved_at IS NULL OR resolved_at >= opened_at",
    )
    online_ddl.add_unique_constraint("uq_incidents_cause_key", "incidents", ["cause_key"])
    online_ddl.create_index(
        "ix_terminal_liveness_last_heartbeat_at", "terminal_liveness", ["last_heartbeat_at"]
    )


def downgrade() -> None:
    online_ddl.drop_index("ix_terminal_liveness_last_heartbeat_at", "terminal_liveness")
    op.drop_table("terminal_liveness")
    op.drop_table("diagnosis_state")
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_incidents_resolved_after_opened"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_incidents_cause_key"), type_="unique")
        batch_op.drop_column("cause_key")
