"""Engines for SQLite (WAL, foreign keys on) and PostgreSQL from one URL.

>>> eng = make_engine("sqlite:///:memory:")
>>> with eng.connect() as c:
...     c.exec_driver_sql("PRAGMA foreign_keys").scalar()
1
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from posguard.common.errors import ConfigError


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _count_error(context: Any) -> None:
    """Every database call that raises, by the driver's error class
    (``posguard_fleet_db_errors_total``); the error itself propagates unchanged."""
    from posguard.fleet.metrics import DB_ERRORS

    orig = context.original_exception
    DB_ERRORS.labels(type(orig).__name__).inc()


_PG_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # ms unacknowledged data may wait
}
_PG_UTC = "-c TimeZone=UTC"
"""The session's zone: the fleet keeps UTC only, and psycopg then returns ``datetime.UTC``
itself, which :class:`~posguard.fleet.db.models.UtcDateTime` passes through instead of
converting every value from the server's zone (a shard reads ~10,000 time stamps a second at
100,000 terminals). SQL that buckets by day or hour names UTC explicitly as well."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their directory created and WAL switched on."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"bad database URL: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(url, **kwargs)
        event.listen(eng, "connect", _sqlite_pragmas)
    else:
        kwargs.setdefault("pool_pre_ping", True)
        if parsed.get_backend_name() == "postgresql":
            # a server that vanishes without closing the connection (a host down, a network
            # partition) fails a call within ~30 s instead of hanging a loop on TCP timeouts
            args = {**_PG_CONNECT_ARGS, **kwargs.pop("connect_args", {})}
            if "options" not in parsed.query:  # the URL's own options win
                args.setdefault("options", _PG_UTC)
            kwargs["connect_args"] = args
        eng = create_engine(url, **kwargs)
    event.listen(eng, "handle_error", _count_error)
    return eng


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
