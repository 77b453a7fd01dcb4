"""The correlator reads the shards' counts; heartbeat samples partitioned by day (PostgreSQL)

- ``group_hits``: per correlation rule, terminal, minute of event time and card BIN, the events
  a shard counted for the correlator (posguard.fleet.diagnosis.group_hits), with a ``version``
  from ``group_hits_version_seq`` (PostgreSQL) for the correlator's cursor. The correlator's
  saved cursor was an events id: its ``diagnosis_state`` row is dropped, so it starts from the
  counts written from now on (its open incidents stay open and are aligned on start).
- PostgreSQL only: ``heartbeat_samples`` becomes ``PARTITION BY RANGE (bucket)``, one partition
  per UTC day (``heartbeat_samples_pYYYYMMDD``) and a ``DEFAULT`` one, like ``events``
  (posguard.fleet.db.partitions): retention drops a day instead of deleting its rows. The rows
  are copied into the new table (24 M a day at a million terminals: a maintenance window).
  SQLite keeps one plain table.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from posguard.fleet.db import online_ddl

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AHEAD_DAYS = 7
KEEP_DAYS = 30  # days of existing samples given their own partition; older go to the default
_SAMPLE_COLUMNS = "terminal_id, bucket, merchant_id, ts, seq, data, shard_slot, received_at"
#: ``heartbeat_samples`` as revisions 0001-0012 made it (columns, key, foreign key): the
#: partitioned table of the upgrade adds ``PARTITION BY RANGE (bucket)``, the downgrade not.
_SAMPLES_TABLE = """
CREATE TABLE heartbeat_samples (
    terminal_id varchar(64) NOT NULL,
    bucket timestamptz NOT NULL,
    merchant_id varchar(64) NOT NULL,
    ts timestamptz NOT NULL,
    seq bigint NOT NULL,
    data json NOT NULL,
    shard_slot smallint NOT NULL,
    received_at timestamptz NOT NULL,
    CONSTRAINT pk_heartbeat_samples PRIMARY KEY (terminal_id, bucket),
    CONSTRAINT fk_heartbeat_samples_terminal_id_terminals FOREIGN KEY (terminal_id)
        REFERENCES terminals (id)
)"""


def _postgresql() -> bool:
    return bool(op.get_context().dialect.name == "postgresql")


def upgrade() -> None:
    op.create_table(
        "group_hits",
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bin6", sa.String(length=8), nullable=False),
        sa.Column("shard", sa.String(length=32), nullable=False),
        sa.Column("seq_hw", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("first", sa.JSON(), nullable=True),
        sa.Column("last", sa.JSON(), nullable=True),
        sa.Column("tried_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tried_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "rule_id", "terminal_id", "bucket", "bin6", name=op.f("pk_group_hits")
        ),
    )
    if _postgresql():
        op.execute("CREATE SEQUENCE group_hits_version_seq OWNED BY group_hits.version")
        _partition_samples(op.get_bind())
    op.execute("DELETE FROM diagnosis_state WHERE shard = 'correlator'")
    online_ddl.create_index("ix_group_hits_version", "group_hits", ["version"])
    online_ddl.create_index("ix_group_hits_bucket", "group_hits", ["bucket"])


def _days(conn: sa.Connection) -> list[date]:
    today = datetime.now(UTC).date()
    first = today - timedelta(days=KEEP_DAYS)
    have = conn.scalars(
        sa.text(
            "SELECT DISTINCT (bucket AT TIME ZONE 'UTC')::date FROM heartbeat_samples_plain "
            "WHERE bucket >= :first AND bucket < :last"
        ),
        {"first": first, "last": today + timedelta(days=AHEAD_DAYS + 1)},
    ).all()
    ahead = {today + timedelta(days=d) for d in range(-1, AHEAD_DAYS + 1)}
    return sorted(set(have) | ahead)


def _set_aside(name: str) -> None:
    """Rename ``heartbeat_samples`` to ``name``, without the index and constraints whose names
    the new table takes."""
    op.execute(f"ALTER TABLE heartbeat_samples RENAME TO {name}")
    op.execute("DROP INDEX IF EXISTS ix_heartbeat_samples_ts")
    for constraint in ("pk_heartbeat_samples", "fk_heartbeat_samples_terminal_id_terminals"):
        op.execute(f"ALTER TABLE {name} DROP CONSTRAINT IF EXISTS {constraint}")


def _move_samples_from(name: str) -> None:
    """Copy every row of ``name`` into the new ``heartbeat_samples``, then drop ``name``."""
    op.execute(
        f"INSERT INTO heartbeat_samples ({_SAMPLE_COLUMNS}) "  # noqa: S608 (constant names)
        f"SELECT {_SAMPLE_COLUMNS} FROM {name}"
    )
    op.execute(f"DROP TABLE {name}")


def _partition_samples(conn: sa.Connection) -> None:
    _set_aside("heartbeat_samples_plain")
    op.execute(_SAMPLES_TABLE + " PARTITION BY RANGE (bucket)")
    # no CONCURRENTLY on a partitioned table: built while it is empty, before the copy
    op.execute("CREATE INDEX ix_heartbeat_samples_ts ON heartbeat_samples (ts)")
    op.execute("CREATE TABLE heartbeat_samples_default PARTITION OF heartbeat_samples DEFAULT")
    for day in _days(conn):
        lo, hi = f"{day.isoformat()} 00:00:00+00", f"{day + timedelta(days=1)} 00:00:00+00"
        op.execute(
            f"CREATE TABLE heartbeat_samples_p{day:%Y%m%d} PARTITION OF heartbeat_samples "
            f"FOR VALUES FROM ('{lo}') TO ('{hi}')"
        )
    _move_samples_from("heartbeat_samples_plain")


def _unpartition_samples() -> None:
    _set_aside("heartbeat_samples_partitioned")
    op.execute(_SAMPLES_TABLE)
    _move_samples_from("heartbeat_samples_partitioned")  # its partitions go with it
    op.execute("CREATE INDEX ix_heartbeat_samples_ts ON heartbeat_samples (ts)")


def downgrade() -> None:
    online_ddl.drop_index("ix_group_hits_bucket", "group_hits")
    online_ddl.drop_index("ix_group_hits_version", "group_hits")
    op.execute("DELETE FROM diagnosis_state WHERE shard = 'correlator'")  # a version, not an id
    if _postgresql():
        _unpartition_samples()
    op.drop_table("group_hits")  # its sequence goes with it (OWNED BY)
