"""heartbeat_samples: a sampled heartbeat history kept at ingest

Ingest stores no heartbeat as an event (it upserts ``terminal_liveness``); the network report
and the maintenance prediction need heartbeat history, so ingest also keeps, per terminal and
sample period (``bucket``: the period's start, ``heartbeat_sample_s`` in the fleet settings,
default one hour), the earliest heartbeat by ``(ts, seq)``. A plain table on both dialects
(not day-partitioned like ``events``): at the default period a million terminals write
24 M rows a day (docs/scaling.md); ``posguard fleet maintenance partitions`` deletes the rows
past its retention.

The heartbeats stored as events before ingest stopped doing so are copied in at the default
period (one hour), the earliest of each terminal-hour, so the report and the prediction keep
their history across the upgrade (one pass over ``events`` by its ``(kind, ts)`` index; the
events rows stay until their retention).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from posguard.fleet.db import online_ddl

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "heartbeat_samples",
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("shard_slot", sa.SmallInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
            name=op.f("fk_heartbeat_samples_terminal_id_terminals"),
        ),
        sa.PrimaryKeyConstraint("terminal_id", "bucket", name=op.f("pk_heartbeat_samples")),
    )
    _copy_heartbeat_events()
    online_ddl.create_index("ix_heartbeat_samples_ts", "heartbeat_samples", ["ts"])


def _copy_heartbeat_events() -> None:
    """The earliest heartbeat event of each terminal-hour into the samples (the default period;
    SQLite stores times as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, so the hour is formatted alike)."""
    if op.get_context().dialect.name == "postgresql":
        bucket = "date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"  # any session zone
    else:
        bucket = "strftime('%Y-%m-%d %H:00:00.000000', ts)"
    firsts = (
        f"SELECT terminal_id, {bucket} AS bucket, merchant_id, ts, seq, data, shard_slot, "  # noqa: S608
        f"received_at, row_number() OVER (PARTITION BY terminal_id, {bucket} ORDER BY ts, seq) "
        "AS nth FROM events WHERE kind = 'heartbeat'"
    )
    columns = "terminal_id, bucket, merchant_id, ts, seq, data, shard_slot, received_at"
    op.execute(
        f"INSERT INTO heartbeat_samples ({columns}) "  # noqa: S608 (constant SQL, no input)
        f"SELECT {columns} FROM ({firsts}) AS firsts WHERE nth = 1"
    )


def downgrade() -> None:
    online_ddl.drop_index("ix_heartbeat_samples_ts", "heartbeat_samples")
    op.drop_table("heartbeat_samples")
