"""The network report's hourly rollup (issue 20)

- ``network_hourly``: ``network_daily`` per terminal and span ``[since, until)`` of a UTC day
  cut at an hour (every prefix and suffix of a day; of today, the prefixes ended so far), so a
  report takes a day a week boundary cuts, and its partial end days, from the rollup too (only
  the hours its ends and week boundaries fall in are counted from the data);
- ``network_hours``: per hour, ``gen`` and ``built_gen`` as ``network_daily_days``; a span is
  current while all its hours are.

The days already rolled up have no hours: they are marked not current (``built_gen`` NULL), so
the next ``posguard fleet maintenance network-rollup`` rebuilds them with their hours (reports
count them from the data meanwhile, with the same figures).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "network_hourly",
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
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
        sa.PrimaryKeyConstraint(
            "since", "until", "terminal_id", "part", name=op.f("pk_network_hourly")
        ),
    )
    op.create_table(
        "network_hours",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("gen", sa.BigInteger(), nullable=False),
        sa.Column("built_gen", sa.BigInteger(), nullable=True),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_network_hours")),
    )
    op.execute(sa.text("UPDATE network_daily_days SET built_gen = NULL"))


def downgrade() -> None:
    op.drop_table("network_hours")
    op.drop_table("network_hourly")
