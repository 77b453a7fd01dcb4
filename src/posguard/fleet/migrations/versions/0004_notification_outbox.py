"""notification_outbox: incident notifications waiting, retrying, sent, failed or suppressed

One row per (incident, transition, channel, recipient), unique by its idempotency key, so a
replay or a second worker never enqueues or sends a notification twice (posguard.fleet.notify).
Its indexes are built ``CONCURRENTLY`` on PostgreSQL (posguard.fleet.db.online_ddl).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from posguard.fleet.db import online_ddl

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "notification_outbox",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("idem_key", sa.String(length=64), nullable=False),
        sa.Column("incident_id", big_id, nullable=True),
        sa.Column("transition", sa.String(length=32), nullable=False),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_key", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_notification_outbox_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
        sa.UniqueConstraint("idem_key", name=op.f("uq_notification_outbox_idem_key")),
    )
    online_ddl.create_index(
        "ix_notification_outbox_due",
        "notification_outbox",
        ["channel", "status", "next_attempt_at"],
    )
    online_ddl.create_index(
        "ix_notification_outbox_incident_id", "notification_outbox", ["incident_id"]
    )


def downgrade() -> None:
    online_ddl.drop_index("ix_notification_outbox_incident_id", "notification_outbox")
    online_ddl.drop_index("ix_notification_outbox_due", "notification_outbox")
    op.drop_table("notification_outbox")
