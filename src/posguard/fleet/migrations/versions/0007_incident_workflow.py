"""The incident workflow: assignee, resolution reason and note, reopen count; the audit log

- ``incidents.assignee`` (``user:<name>`` or ``team:<id>``), ``resolution_reason``,
  ``resolution_note``: nullable, no default (nothing rewritten on PostgreSQL);
  ``reopen_count`` NOT NULL DEFAULT 0 (PostgreSQL 11+ stores the default without a rewrite).
- ``incident_audit``: one row per action on an incident (posguard.fleet.audit). Append-only:
  a trigger refuses UPDATE and DELETE on both dialects, so not even a bug or a hand-typed
  statement in the application's connection rewrites the record.

Indexes are built ``CONCURRENTLY`` on PostgreSQL (posguard.fleet.db.online_ddl).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from posguard.fleet.db import online_ddl

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION incident_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'incident_audit is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql
"""
_PG_TRIGGER = (
    "CREATE TRIGGER incident_audit_append_only BEFORE UPDATE OR DELETE ON incident_audit "
    "FOR EACH ROW EXECUTE FUNCTION incident_audit_append_only()"
)
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER incident_audit_no_update BEFORE UPDATE ON incident_audit "
    "BEGIN SELECT RAISE(ABORT, 'incident_audit is append-only (UPDATE refused)'); END",
    "CREATE TRIGGER incident_audit_no_delete BEFORE DELETE ON incident_audit "
    "BEGIN SELECT RAISE(ABORT, 'incident_audit is append-only (DELETE refused)'); END",
)


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("resolution_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("resolution_note", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("reopen_count", sa.Integer(), server_default="0", nullable=False)
        )
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "incident_audit",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("incident_id", big_id, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("merchant_safe", sa.Boolean(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_audit_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_audit")),
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        for stmt in _SQLITE_TRIGGERS:
            op.execute(stmt)
    online_ddl.create_index(
        "ix_incident_audit_incident_id_id", "incident_audit", ["incident_id", "id"]
    )
    online_ddl.create_index("ix_incidents_assignee", "incidents", ["assignee"])


def downgrade() -> None:
    online_ddl.drop_index("ix_incidents_assignee", "incidents")
    online_ddl.drop_index("ix_incident_audit_incident_id_id", "incident_audit")
    op.drop_table("incident_audit")  # its triggers go with it
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS incident_audit_append_only()")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("reopen_count")
        batch_op.drop_column("resolution_note")
        batch_op.drop_column("resolution_reason")
        batch_op.drop_column("assignee")
