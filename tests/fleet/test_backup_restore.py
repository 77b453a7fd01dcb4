"""Backup and restore of the fleet database as docs/operations.md describes it: ``pg_dump
--format=custom`` then ``pg_restore`` into an empty database (here: this test's own schema,
dropped in between). Every table comes back with its rows, the schema revision, and the
sequences (a new event after the restore gets a fresh id), and the fleet works on it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select, text

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.migrate import current_revision
from posguard.fleet.db.models import Base, EventRow, Terminal
from posguard.fleet.ingest.store import EventStore, Outcome
from posguard.fleet.security import verify_terminal_secret

from .conftest import FleetDB, event, register


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (PostgreSQL client tools)")
    return path


def _counts(db: FleetDB) -> dict[str, int]:
    with db.engine.connect() as c:
        return {
            t.name: int(c.execute(select(func.count()).select_from(t)).scalar_one())
            for t in Base.metadata.sorted_tables
        }


@pytest.mark.postgres
def test_pg_dump_and_pg_restore_round_trip(
    pg_db: FleetDB, tmp_path: Path, clock: FakeClock
) -> None:
    pg_dump, pg_restore = _tool("pg_dump"), _tool("pg_restore")
    libpq_url, _, options = pg_db.url.replace("postgresql+psycopg://", "postgresql://").partition(
        "?"
    )
    schema = unquote(options).rpartition("search_path=")[2]
    assert schema.startswith("fleet_")

    token = register(pg_db, "T1", merchant_id="M01")
    register(pg_db, "T2", merchant_id="M02")
    store = EventStore(pg_db.sessions, catalog=default_catalog(), clock=clock)
    results = store.store(
        [event("T1", i, kind="fault", code="PRN.PAPER_OUT") for i in range(1, 51)],
        transport="http",
    )
    assert all(r.outcome is Outcome.STORED for r in results)
    before = _counts(pg_db)
    revision = current_revision(pg_db.engine)
    assert before["events"] == 50

    dump = tmp_path / "fleet.dump"
    subprocess.run(
        [pg_dump, "--format=custom", f"--schema={schema}", f"--file={dump}", libpq_url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pg_db.engine.dispose()
    with pg_db.engine.begin() as c:
        c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    with pg_db.engine.connect() as c:
        assert (
            c.execute(
                text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}
            ).scalar_one()
            == 0
        )
    restored = subprocess.run(
        [pg_restore, "--exit-on-error", f"--dbname={libpq_url}", str(dump)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert restored.returncode == 0, restored.stderr

    assert _counts(pg_db) == before
    assert current_revision(pg_db.engine) == revision
    with pg_db.sessions() as s:
        t1 = s.get(Terminal, "T1")
        assert t1 is not None
        assert verify_terminal_secret(token, t1.credential_hash)
        max_id = s.scalar(select(func.max(EventRow.id)))
    (new,) = store.store([event("T1", 51)], transport="http")
    assert new.outcome is Outcome.STORED
    (again,) = store.store([event("T1", 50)], transport="http")
    assert again.outcome is Outcome.DUPLICATE  # the unique key came back too
    with pg_db.sessions() as s:
        assert s.scalar(select(func.max(EventRow.id))) > max_id  # type: ignore[operator]
