"""Day partitions of the events table on PostgreSQL (docs/scaling.md; SQLite keeps one table).

``events`` is ``PARTITION BY RANGE (ts)``: one partition per UTC day, ``events_pYYYYMMDD``, and a
``DEFAULT`` partition (``events_default``) that catches any row no day partition covers (a
terminal with a wild clock, a day not created yet), so no event is ever refused for its time.

:func:`maintain` is what ``posguard fleet maintenance partitions`` runs, as often as you like:
it creates the day partitions from yesterday to ``ahead`` days ahead, moves the rows the default
partition holds for such a day into it, and drops the day partitions wholly past ``retention``
(``DETACH`` then ``DROP``: instant, no bulk ``DELETE``, no vacuum debt). Run twice, the second run
does nothing. The sampled heartbeat history (``heartbeat_samples``) is partitioned the same way
since revision 0013, by its ``bucket`` (``heartbeat_samples_pYYYYMMDD`` and
``heartbeat_samples_default``), and gets the same days and retention; the rows its default
partition holds before the cutoff are deleted (a database before 0013: the plain table's old rows
are deleted a day at a time, :func:`posguard.fleet.repo.heartbeat_samples.delete_before`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from posguard.common.errors import ConfigError
from posguard.fleet.repo.heartbeat_samples import delete_before

PARTITIONED = ("events", "heartbeat_samples")  # by day on PostgreSQL
KEY = {"events": "ts", "heartbeat_samples": "bucket"}  # the column a table is partitioned by
SAMPLES = "heartbeat_samples"
DEFAULT_PARTITION = "events_default"
LOCK_TIMEOUT = "10s"  # a partition change waits this long for ingest's locks, then fails
_MAINTAINER = 0x706F7367_70617274  # advisory lock key: one maintainer's change at a time


def partition_name(day: date, table: str = "events") -> str:
    """The day's partition of the events table (or of ``table``).

    >>> partition_name(date(2026, 12, 2)), partition_name(date(2026, 12, 2), SAMPLES)
    ('events_p20261202', 'heartbeat_samples_p20261202')
    """
    return f"{table}_p{day:%Y%m%d}"


def default_partition(table: str) -> str:
    return f"{table}_default"


def is_partition(table_name: str) -> bool:
    """Whether a table is a day or default partition of ``events`` or ``heartbeat_samples``
    (not a table of the models).

    >>> is_partition("events_p20261202"), is_partition("events_default"), is_partition("events")
    (True, True, False)
    >>> is_partition("heartbeat_samples_p20261202"), is_partition("heartbeat_samples_default")
    (True, True)
    """
    return any(
        table_name == f"{t}_default" or re.match(rf"^{t}_p\d{{8}}$", table_name) is not None
        for t in PARTITIONED
    )


def _bound(day: date) -> str:
    return f"{day.isoformat()} 00:00:00+00"


def is_partitioned(conn: Connection, table: str = "events") -> bool:
    """Whether ``table`` is a partitioned table (PostgreSQL: ``events`` after migration 0006,
    ``heartbeat_samples`` after 0013)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.scalar(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
    )
    return bool(kind == "p")


def day_partitions(conn: Connection, table: str = "events") -> dict[date, str]:
    """The day partitions attached to ``table``: day -> table name."""
    names = conn.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": table},
    )
    pattern = re.compile(rf"^{table}_p(\d{{8}})$")
    out: dict[date, str] = {}
    for name in names:
        m = pattern.match(name)
        if m:
            out[datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC).date()] = name
    return out


def _exclusive(conn: Connection) -> None:
    """This transaction is the only maintainer's (two cron runs at once take turns), and waits
    at most ``LOCK_TIMEOUT`` for the table's locks."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MAINTAINER})
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))


def create_day(conn: Connection, day: date, table: str = "events") -> int:
    """Create and attach the partition of ``day``, moving into it the rows the default partition
    holds for that day (an attach would fail on them otherwise). Returns the rows moved."""
    name, lo, hi = partition_name(day, table), _bound(day), _bound(day + timedelta(days=1))
    key, default = KEY[table], default_partition(table)
    _exclusive(conn)
    conn.execute(
        text(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    moved = conn.execute(
        text(
            f"WITH moved AS (DELETE FROM {default} WHERE {key} >= :lo AND {key} < :hi "  # noqa: S608 (names built from a date)
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        ),
        {"lo": lo, "hi": hi},
    ).rowcount
    conn.execute(
        text(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ('{lo}') TO ('{hi}')")
    )
    return int(moved or 0)


def drop_day(conn: Connection, day: date, table: str = "events") -> None:
    name = partition_name(day, table)
    _exclusive(conn)
    conn.execute(text(f"ALTER TABLE {table} DETACH PARTITION {name}"))
    conn.execute(text(f"DROP TABLE {name}"))


@dataclass
class MaintenanceReport:
    created: list[date] = field(default_factory=list)
    dropped: list[date] = field(default_factory=list)
    moved_from_default: int = 0
    default_rows: int = 0  # rows still in the default partition (outside every day partition)
    days: int = 0  # day partitions after the run
    samples_deleted: int = 0  # heartbeat_samples rows past retention (outside day partitions)
    samples_created: list[date] = field(default_factory=list)  # heartbeat_samples days
    samples_dropped: list[date] = field(default_factory=list)

    def lines(self) -> list[str]:
        def days(ds: list[date]) -> str:
            return ", ".join(d.isoformat() for d in ds) or "none"

        return [
            f"created: {days(self.created)}",
            f"dropped (past retention): {days(self.dropped)}",
            f"rows moved out of {DEFAULT_PARTITION}: {self.moved_from_default}",
            f"rows left in {DEFAULT_PARTITION}: {self.default_rows}",
            f"day partitions: {self.days}",
            f"heartbeat sample days created: {days(self.samples_created)}",
            f"heartbeat sample days dropped (past retention): {days(self.samples_dropped)}",
            f"heartbeat samples deleted (past retention): {self.samples_deleted}",
        ]


def _keep_days(
    engine: Engine, table: str, wanted: list[date], cutoff: date
) -> tuple[list[date], list[date], int]:
    """Create ``table``'s wanted days (from ``cutoff`` on) and drop those before ``cutoff``;
    returns the days created, the days dropped and the rows moved out of its default."""
    created: list[date] = []
    dropped: list[date] = []
    moved = 0
    with engine.connect() as conn:
        have = day_partitions(conn, table)
    for day in wanted:
        if day in have or day < cutoff:
            continue
        with engine.begin() as conn:
            _exclusive(conn)
            if day in day_partitions(conn, table):  # another maintainer was first
                continue
            moved += create_day(conn, day, table)
        created.append(day)
    for day in sorted(have):
        if day < cutoff:
            with engine.begin() as conn:
                _exclusive(conn)
                if day in day_partitions(conn, table):
                    drop_day(conn, day, table)
                    dropped.append(day)
    return created, dropped, moved


def maintain(
    engine: Engine, *, today: date, ahead_days: int = 7, retention_days: int = 30
) -> MaintenanceReport:
    """Create ``yesterday .. today + ahead_days`` and drop the days before
    ``today - retention_days``; each change in a transaction of its own."""
    if ahead_days < 0 or retention_days < 1:
        raise ConfigError(
            f"ahead {ahead_days} / retention {retention_days} days: need ahead >= 0 and "
            "retention >= 1"
        )
    with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            raise ConfigError(
                f"day partitions are a PostgreSQL feature; this database is {conn.dialect.name} "
                "(its events table is one plain table: nothing to maintain)"
            )
        if not is_partitioned(conn):
            raise ConfigError(
                "the events table is not partitioned: run `posguard fleet migrate` first "
                "(revision 0006 partitions it by day)"
            )
    report = MaintenanceReport()
    wanted = [today + timedelta(days=d) for d in range(-1, ahead_days + 1)]
    cutoff = today - timedelta(days=retention_days)
    report.created, report.dropped, report.moved_from_default = _keep_days(
        engine, "events", wanted, cutoff
    )
    with engine.connect() as conn:
        samples_partitioned = is_partitioned(conn, SAMPLES)
    cut = datetime.combine(cutoff, datetime.min.time(), UTC)
    if samples_partitioned:
        report.samples_created, report.samples_dropped, _ = _keep_days(
            engine, SAMPLES, wanted, cutoff
        )
        with engine.begin() as conn:  # strays in the default partition: few rows
            gone = conn.execute(
                text(f"DELETE FROM {default_partition(SAMPLES)} WHERE bucket < :cut"),  # noqa: S608
                {"cut": cut},
            )
            report.samples_deleted = int(gone.rowcount or 0)
    else:
        report.samples_deleted = delete_before(engine, cut)
    with engine.connect() as conn:
        report.days = len(day_partitions(conn))
        report.default_rows = int(
            conn.scalar(text(f"SELECT count(*) FROM {DEFAULT_PARTITION}")) or 0  # noqa: S608
        )
    return report
