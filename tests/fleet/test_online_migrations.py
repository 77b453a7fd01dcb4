"""Migrations do not block ingest: on PostgreSQL every index a migration adds (0003's unique
cause key and liveness index, 0004's outbox indexes) is built CONCURRENTLY outside a
transaction, and dropped CONCURRENTLY on the way down; the CHECK is added NOT VALID and then
validated. Checked against the real PostgreSQL in a scratch schema: the statements sent, the
indexes valid afterwards, and upgrade -> downgrade -> upgrade round trips."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, text

from posguard.fleet.db.engine import make_engine
from posguard.fleet.db.migrate import alembic_config, current_revision, downgrade, upgrade
from posguard.fleet.testing import scratch_pg_schema

pytestmark = pytest.mark.postgres

ONLINE = {
    "uq_incidents_cause_key": "incidents",
    "ix_terminal_liveness_last_heartbeat_at": "terminal_liveness",
    "ix_terminal_liveness_received_at": "terminal_liveness",
    "ix_notification_outbox_due": "notification_outbox",
    "ix_notification_outbox_incident_id": "notification_outbox",
    # 0010: the inventory's keyset indexes and bulk actions
    "ix_terminals_serial": "terminals",
    "ix_terminals_model_id": "terminals",
    "ix_terminals_firmware_id": "terminals",
    "ix_commands_bulk_id": "commands",
    "ix_incident_audit_incident_id_id": "incident_audit",
    "ix_incidents_assignee": "incidents",
    "ix_prediction_visits_terminal_id_visited_at": "prediction_visits",
    "ix_heartbeat_samples_ts": "heartbeat_samples",
    "ix_merchant_contacts_merchant_id": "merchant_contacts",
}
HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    with scratch_pg_schema(postgres_url, "online") as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _log(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(" ".join(statement.split()))

    return seen


def _indexes(engine: Engine) -> dict[str, bool]:
    """Index name -> valid, in the engine's schema."""
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT i.relname, x.indisvalid FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_namespace n ON n.oid = i.relnamespace "
                "WHERE n.nspname = current_schema()"
            )
        ).all()
    return {name: bool(valid) for name, valid in rows}


def test_indexes_are_built_and_dropped_concurrently_and_round_trip(pg_engine: Engine) -> None:
    upgrade(pg_engine, "0002")
    seen = _statements(pg_engine)
    upgrade(pg_engine)
    assert current_revision(pg_engine) == HEAD
    for name, table in ONLINE.items():
        unique = "UNIQUE " if name.startswith("uq_") else ""
        assert any(
            s.startswith(f"CREATE {unique}INDEX CONCURRENTLY {name} ON {table}") for s in seen
        ), f"{name} was not built concurrently"
    # except 0006's new partitioned events table and 0013's heartbeat_samples (no CONCURRENTLY
    # on a partitioned table): their indexes are built while they are empty, before the rows are
    # copied in (an offline rewrite)
    plain = [
        s
        for s in seen
        if s.startswith("CREATE") and "INDEX" in s and "CONCURRENTLY" not in s
        and " ON events (" not in s and " ON heartbeat_samples (" not in s
    ]  # fmt: skip
    assert not plain, plain
    assert any(
        "ADD CONSTRAINT uq_incidents_cause_key UNIQUE USING INDEX" in s.replace('"', "")
        for s in seen
    )
    assert any(s.endswith("NOT VALID") for s in seen)
    indexes = _indexes(pg_engine)
    assert all(indexes.get(name) for name in ONLINE), indexes  # present and valid
    with pg_engine.connect() as c:
        kinds = dict(
            c.execute(
                text(
                    "SELECT conname, contype::text || ':' || convalidated::text FROM pg_constraint "
                    "WHERE conrelid = 'incidents'::regclass"
                )
            ).all()
        )
    assert kinds["uq_incidents_cause_key"] == "u:true"
    assert kinds["ck_incidents_resolved_after_opened"] == "c:true"

    seen.clear()
    downgrade(pg_engine, "0002")
    assert current_revision(pg_engine) == "0002"
    for name in (
        "ix_terminal_liveness_last_heartbeat_at",
        "ix_notification_outbox_due",
        "ix_terminals_model_id",
    ):
        assert any(s.startswith(f"DROP INDEX CONCURRENTLY IF EXISTS {name}") for s in seen), name
    assert not set(ONLINE) & set(_indexes(pg_engine))

    upgrade(pg_engine)
    assert current_revision(pg_engine) == HEAD
    assert all(_indexes(pg_engine).get(name) for name in ONLINE)
