"""Fleet at scale: events partitioned by day (PostgreSQL), a shard slot on every event and
liveness row, the idempotency key holding the event time

- ``events.shard_slot`` and ``terminal_liveness.shard_slot``: ``crc32(terminal_id) mod 1024``
  (posguard.fleet.diagnosis.shard.slot_of), filled in here for the rows already stored, set by
  ingest from now on; a diagnoser shard selects its rows by slot (``ix_events_shard_slot_id``).
- ``terminal_liveness.received_at`` indexed: a shard reads the heartbeats that arrived since its
  last step (ingest upserts liveness instead of storing heartbeat events).
- The idempotency key becomes ``(terminal_id, seq, ts)`` on both dialects: a unique key on a
  partitioned table must hold the partition column, and a resent event is the same outbox row
  with the same ``ts``.
- ``incident_events.event_id`` loses its foreign key: nothing can point at a partitioned table,
  and a day past retention is dropped whole.
- PostgreSQL only: ``events`` becomes ``PARTITION BY RANGE (ts)``, one partition per UTC day
  (``events_pYYYYMMDD``) and a ``DEFAULT`` partition for any other time (posguard.fleet.db.
  partitions; ``posguard fleet maintenance partitions`` keeps days ahead and drops old ones).
  The rows are copied into the new table: this revision rewrites ``events`` and holds it for
  the copy (minutes for tens of millions of rows): run it in a maintenance window. SQLite keeps
  one plain table (rebuilt for the new key).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from posguard.fleet.db import online_ddl

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOTS = 1024  # frozen here: the rows keep the slot this revision gave them
AHEAD_DAYS = 7
KEEP_DAYS = 30  # days of existing rows given their own partition; older ones go to the default
_EVENT_COLUMNS = "id, terminal_id, merchant_id, seq, ts, received_at, kind, code, data"


def _slots(conn: sa.Connection) -> list[dict[str, object]]:
    ids = conn.scalars(sa.text("SELECT id FROM terminals")).all()
    return [{"tid": t, "slot": zlib.crc32(t.encode()) % SLOTS} for t in ids]


def _postgresql() -> bool:
    return bool(op.get_context().dialect.name == "postgresql")


def upgrade() -> None:
    conn = op.get_bind()
    slots = _slots(conn)
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_incident_events_event_id_events", type_="foreignkey")
    with op.batch_alter_table("terminal_liveness", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shard_slot", sa.SmallInteger(), nullable=True))
    if slots:
        conn.execute(
            sa.text("UPDATE terminal_liveness SET shard_slot = :slot WHERE terminal_id = :tid"),
            slots,
        )
    with op.batch_alter_table("terminal_liveness", schema=None) as batch_op:
        batch_op.alter_column("shard_slot", existing_type=sa.SmallInteger(), nullable=False)
    if _postgresql():
        _partition_events(conn, slots)
    else:
        _sqlite_events(conn, slots)
    online_ddl.create_index(
        "ix_terminal_liveness_received_at", "terminal_liveness", ["received_at"]
    )


def _sqlite_events(conn: sa.Connection, slots: list[dict[str, object]]) -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shard_slot", sa.SmallInteger(), nullable=True))
    if slots:
        conn.execute(
            sa.text("UPDATE events SET shard_slot = :slot WHERE terminal_id = :tid"), slots
        )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column("shard_slot", existing_type=sa.SmallInteger(), nullable=False)
        batch_op.drop_constraint("uq_events_terminal_id_seq", type_="unique")
        batch_op.create_unique_constraint(
            "uq_events_terminal_id_seq_ts", ["terminal_id", "seq", "ts"]
        )
        batch_op.create_index("ix_events_shard_slot_id", ["shard_slot", "id"], unique=False)


def _days(conn: sa.Connection) -> list[date]:
    """The UTC days to give a partition now: those of the last ``KEEP_DAYS`` with rows, and
    yesterday to ``AHEAD_DAYS`` ahead."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=KEEP_DAYS)
    have = conn.scalars(
        sa.text(
            "SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM events_unpartitioned "
            "WHERE ts >= :first AND ts < :last"
        ),
        {"first": first, "last": today + timedelta(days=AHEAD_DAYS + 1)},
    ).all()
    ahead = {today + timedelta(days=d) for d in range(-1, AHEAD_DAYS + 1)}
    return sorted(set(have) | ahead)


def _partition_events(conn: sa.Connection, slots: list[dict[str, object]]) -> None:
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY NONE")
    op.execute("ALTER TABLE events RENAME TO events_unpartitioned")
    for index in ("ix_events_merchant_id", "ix_events_terminal_id_ts", "ix_events_kind_ts"):
        op.execute(f"DROP INDEX IF EXISTS {index}")
    for constraint in ("uq_events_terminal_id_seq", "pk_events", "fk_events_terminal_id_terminals"):
        op.execute(f"ALTER TABLE events_unpartitioned DROP CONSTRAINT IF EXISTS {constraint}")
    op.execute(
        """
        CREATE TABLE events (
            id bigint NOT NULL DEFAULT nextval('events_id_seq'),
            terminal_id varchar(64) NOT NULL,
            merchant_id varchar(64) NOT NULL,
            seq bigint NOT NULL,
            ts timestamptz NOT NULL,
            received_at timestamptz NOT NULL,
            kind varchar(32) NOT NULL,
            code varchar(64),
            data json NOT NULL,
            shard_slot smallint NOT NULL,
            CONSTRAINT pk_events PRIMARY KEY (id, ts),
            CONSTRAINT uq_events_terminal_id_seq_ts UNIQUE (terminal_id, seq, ts),
            CONSTRAINT fk_events_terminal_id_terminals FOREIGN KEY (terminal_id)
                REFERENCES terminals (id)
        ) PARTITION BY RANGE (ts)
        """
    )
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
    op.execute("CREATE INDEX ix_events_merchant_id ON events (merchant_id)")
    op.execute("CREATE INDEX ix_events_terminal_id_ts ON events (terminal_id, ts)")
    op.execute("CREATE INDEX ix_events_kind_ts ON events (kind, ts)")
    op.execute("CREATE INDEX ix_events_shard_slot_id ON events (shard_slot, id)")
    op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    for day in _days(conn):
        lo, hi = f"{day.isoformat()} 00:00:00+00", f"{day + timedelta(days=1)} 00:00:00+00"
        op.execute(
            f"CREATE TABLE events_p{day:%Y%m%d} PARTITION OF events "
            f"FOR VALUES FROM ('{lo}') TO ('{hi}')"
        )
    op.execute(
        "CREATE TEMPORARY TABLE posguard_slots (terminal_id varchar(64) PRIMARY KEY, "
        "slot smallint NOT NULL)"
    )
    if slots:
        conn.execute(
            sa.text("INSERT INTO posguard_slots (terminal_id, slot) VALUES (:tid, :slot)"), slots
        )
    op.execute(
        f"INSERT INTO events ({_EVENT_COLUMNS}, shard_slot) "  # noqa: S608 (constant names)
        f"SELECT {', '.join('e.' + c.strip() for c in _EVENT_COLUMNS.split(','))}, s.slot "
        "FROM events_unpartitioned e JOIN posguard_slots s ON s.terminal_id = e.terminal_id"
    )
    op.execute("DROP TABLE events_unpartitioned")
    op.execute("DROP TABLE posguard_slots")


def downgrade() -> None:
    online_ddl.drop_index("ix_terminal_liveness_received_at", "terminal_liveness")
    if _postgresql():
        _unpartition_events()
    else:
        with op.batch_alter_table("events", schema=None) as batch_op:
            batch_op.drop_index("ix_events_shard_slot_id")
            batch_op.drop_constraint("uq_events_terminal_id_seq_ts", type_="unique")
            batch_op.create_unique_constraint("uq_events_terminal_id_seq", ["terminal_id", "seq"])
            batch_op.drop_column("shard_slot")
    with op.batch_alter_table("terminal_liveness", schema=None) as batch_op:
        batch_op.drop_column("shard_slot")
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_incident_events_event_id_events",
            "events",
            ["event_id"],
            ["id"],
            postgresql_not_valid=True,  # links to events dropped with their day stay
        )


def _unpartition_events() -> None:
    """Back to one plain table (fails on two events of one terminal and seq with different
    times, which the older key cannot hold)."""
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY NONE")
    op.execute("ALTER TABLE events RENAME TO events_partitioned")
    for index in (
        "ix_events_merchant_id",
        "ix_events_terminal_id_ts",
        "ix_events_kind_ts",
        "ix_events_shard_slot_id",
    ):
        op.execute(f"DROP INDEX IF EXISTS {index}")
    for constraint in (
        "uq_events_terminal_id_seq_ts",
        "pk_events",
        "fk_events_terminal_id_terminals",
    ):
        op.execute(f"ALTER TABLE events_partitioned DROP CONSTRAINT IF EXISTS {constraint}")
    op.execute(
        """
        CREATE TABLE events (
            id bigint NOT NULL DEFAULT nextval('events_id_seq'),
            terminal_id varchar(64) NOT NULL,
            merchant_id varchar(64) NOT NULL,
            seq bigint NOT NULL,
            ts timestamptz NOT NULL,
            received_at timestamptz NOT NULL,
            kind varchar(32) NOT NULL,
            code varchar(64),
            data json NOT NULL,
            CONSTRAINT pk_events PRIMARY KEY (id),
            CONSTRAINT uq_events_terminal_id_seq UNIQUE (terminal_id, seq),
            CONSTRAINT fk_events_terminal_id_terminals FOREIGN KEY (terminal_id)
                REFERENCES terminals (id)
        )
        """
    )
    op.execute("ALTER SEQUENCE events_id_seq OWNED BY events.id")
    op.execute(
        f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} FROM events_partitioned"  # noqa: S608
    )
    op.execute("DROP TABLE events_partitioned")
    op.execute("CREATE INDEX ix_events_merchant_id ON events (merchant_id)")
    op.execute("CREATE INDEX ix_events_terminal_id_ts ON events (terminal_id, ts)")
    op.execute("CREATE INDEX ix_events_kind_ts ON events (kind, ts)")
