"""Storage on SQLite and PostgreSQL: migrations, idempotent batched inserts, constraints."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from posguard.fleet.db.models import Base, EventRow, Terminal
from posguard.fleet.repo.events import insert_events
from posguard.fleet.security import verify_terminal_secret

from .conftest import T0, FleetDB, register


def _row(tid: str, seq: int) -> dict[str, object]:
    return {
        "terminal_id": tid,
        "merchant_id": "M01",
        "seq": seq,
        "ts": T0 + timedelta(seconds=seq),
        "received_at": T0,
        "kind": "heartbeat",
        "code": None,
        "data": {"uptime_s": seq},
    }


def test_migrations_create_every_model_table(fleet_db: FleetDB) -> None:
    tables = set(inspect(fleet_db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_resend_is_stored_once_and_batch_reports_new_rows(fleet_db: FleetDB) -> None:
    register(fleet_db, "T1")
    with fleet_db.sessions.begin() as s:
        first = insert_events(s, rows=[_row("T1", i) for i in range(1200)])
    with fleet_db.sessions.begin() as s:
        again = insert_events(s, rows=[_row("T1", i) for i in range(1195, 1205)])
    assert len(first) == 1200
    assert sorted(seq for _, seq in again) == [1200, 1201, 1202, 1203, 1204]
    assert ("T1", 0) in first
    with fleet_db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(EventRow)) == 1205
        back = s.scalars(select(EventRow).where(EventRow.seq == 7)).one()
        assert back.ts == T0 + timedelta(seconds=7)
        assert back.ts.tzinfo is not None
        assert back.data == {"uptime_s": 7}


def test_event_of_unknown_terminal_violates_foreign_key(fleet_db: FleetDB) -> None:
    with pytest.raises(IntegrityError), fleet_db.sessions.begin() as s:
        insert_events(s, rows=[_row("NOPE", 1)])


def test_terminal_credential_is_stored_hashed(fleet_db: FleetDB) -> None:
    token = register(fleet_db, "T9")
    with fleet_db.sessions() as s:
        t = s.get(Terminal, "T9")
        assert t is not None
        assert token not in t.credential_hash
        assert verify_terminal_secret(token, t.credential_hash)
        assert not verify_terminal_secret(token + "x", t.credential_hash)


def test_migrations_match_the_models(fleet_db: FleetDB) -> None:
    """No schema change without a migration: autogenerate finds nothing to do (the day
    partitions of events on PostgreSQL are the maintenance job's, not the models')."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from posguard.fleet.db.partitions import is_partition

    def ours(name: str | None, type_: str, parent: dict[str, str | None]) -> bool:
        table = name if type_ == "table" else parent.get("table_name")
        return not (table and is_partition(table))

    with fleet_db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_name": ours})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_downgrade_then_upgrade_round_trips(sqlite_db: FleetDB) -> None:
    from posguard.fleet.db.migrate import downgrade, upgrade

    downgrade(sqlite_db.engine)
    assert set(inspect(sqlite_db.engine).get_table_names()) <= {"alembic_version"}
    upgrade(sqlite_db.engine)
    assert set(Base.metadata.tables) <= set(inspect(sqlite_db.engine).get_table_names())
