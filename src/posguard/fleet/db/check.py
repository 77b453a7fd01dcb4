"""Can the fleet use this database? Asked before serving, and by ``/readyz`` on every probe.

A database the fleet cannot use is a clear refusal, never a service that answers "ok" and
fails on the first write: a SQLite folder that does not exist (it is not created behind the
operator's back), a file never migrated, a schema older than the code, a database it can
only read. Each verdict says what is wrong and what to run.

>>> state = check_database("sqlite:////nonexistent-posguard-dir/fleet.db")
>>> state.ok, state.problem
(False, 'folder /nonexistent-posguard-dir does not exist')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from posguard.fleet.db.engine import make_engine


@dataclass(frozen=True)
class DatabaseState:
    """``ok``, or the ``problem`` and the ``fix`` (a command or an action) in one line each."""

    ok: bool
    schema: str | None = None
    problem: str | None = None
    fix: str | None = None

    def line(self, url: str) -> str:
        """One line for an operator: what is wrong with which database, and what to do."""
        return f"fleet database {url}: {self.problem}; {self.fix}"


@cache
def head_revision() -> str:
    """The newest migration shipped with this code."""
    # imported here, not at the top: alembic is not needed to serve, and API workers start
    # (and restart) faster without it
    from alembic.script import ScriptDirectory

    from posguard.fleet.db.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return str(head)


def check_database(
    url: str, engine: Engine | None = None, *, probe_write: bool = False
) -> DatabaseState:
    """Look at the database behind ``url`` (through ``engine`` when one is open already).
    ``probe_write``: on SQLite also try a write (and undo it), which waits while another
    process writes: for a start-up check, not for a health probe answered every few seconds
    (that one relies on the file's and folder's permissions)."""
    migrate = f"run `posguard fleet migrate --db {url}`"
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        return DatabaseState(False, problem=f"bad database URL ({exc})", fix="fix --db")
    database = parsed.database or ""
    sqlite_file = (
        parsed.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and not database.startswith("file:")  # a SQLite URI: the driver opens it as it says
    )
    if sqlite_file:
        path = Path(str(parsed.database))
        if not path.parent.is_dir():
            return DatabaseState(
                False,
                problem=f"folder {path.parent} does not exist",
                fix=f"create it, then {migrate}",
            )
        if not path.exists():
            return DatabaseState(False, problem="no database file", fix=migrate)
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
            return DatabaseState(
                False,
                problem="read-only (the file or its folder cannot be written)",
                fix="give the service's user write access to both",
            )
    own = engine is None
    eng = engine if engine is not None else make_engine(url)
    try:
        with eng.connect() as conn:
            try:
                version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except SQLAlchemyError:
                return DatabaseState(False, problem="not migrated (no fleet schema)", fix=migrate)
            if version != head_revision():
                return DatabaseState(
                    False,
                    schema=str(version),
                    problem=f"schema {version}, this version needs {head_revision()}",
                    fix=migrate,
                )
            writable = _writable(conn, probe_write)
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        reason = str(orig if orig is not None else exc).splitlines()[0]
        return DatabaseState(False, problem=f"cannot connect ({reason})", fix="check --db")
    finally:
        if own:
            eng.dispose()
    if not writable:
        return DatabaseState(
            False, schema=str(version), problem="read-only", fix="point --db at a primary"
        )
    return DatabaseState(True, schema=str(version))


def _writable(conn: object, probe_write: bool) -> bool:
    """Whether this connection may write: SQLite tries a write and undoes it, PostgreSQL
    says whether the session is read-only (a standby, a read-only role default)."""
    from sqlalchemy import Connection

    assert isinstance(conn, Connection)
    if conn.dialect.name == "sqlite":
        if not probe_write:
            return True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:  # a write that changes nothing, undone: a read-only file refuses even this
                conn.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
            finally:
                conn.exec_driver_sql("ROLLBACK")
        except SQLAlchemyError:
            return False
        return True
    return conn.execute(text("SHOW transaction_read_only")).scalar() != "on"
