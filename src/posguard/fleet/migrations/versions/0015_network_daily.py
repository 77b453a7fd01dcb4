"""The network report's daily rollup (issue 20)

- ``network_daily``: per UTC day and terminal, the report's counts per carrier × link
  (``posguard.fleet.network_report.rollup``), so a report reads a row per terminal-day instead
  of every sampled heartbeat and transaction of its window;
- ``network_daily_days``: per day, ``gen`` (bumped by ingest when a past day gets data) and
  ``built_gen`` (the ``gen`` its rows were built from): a day's rows are used only while the
  two agree.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "network_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("part", sa.SmallInteger(), nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=True),
        sa.Column("link", sa.String(length=16), nullable=True),
        sa.Column("first_ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_seq", sa.BigInteger(), nullable=True),
        sa.Column("last_ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("timeouts", sa.Integer(), nullable=False),
        sa.Column("resets", sa.Integer(), nullable=False),
        sa.Column("heartbeats", sa.Integer(), nullable=False),
        sa.Column("signal_reports", sa.Integer(), nullable=False),
        sa.Column("weak", sa.Integer(), nullable=False),
        sa.Column("failover_reports", sa.Integer(), nullable=False),
        sa.Column("failover", sa.Integer(), nullable=False),
        sa.Column("rtts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("day", "terminal_id", "part", name=op.f("pk_network_daily")),
    )
    op.create_table(
        "network_daily_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("gen", sa.BigInteger(), nullable=False),
        sa.Column("built_gen", sa.BigInteger(), nullable=True),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_network_daily_days")),
    )


def downgrade() -> None:
    op.drop_table("network_daily_days")
    op.drop_table("network_daily")
