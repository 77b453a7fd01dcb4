"""Fleet fixtures: a migrated database on SQLite and on PostgreSQL (one schema per test), a fake
clock, and helpers to register terminals and build events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from posguard.fleet.clock import FakeClock
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.repo.terminals import add_terminal
from posguard.fleet.testing import cheap_password_hashing, scratch_pg_schema

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@dataclass
class FleetDB:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    dialect: str


@pytest.fixture(autouse=True)
def _cheap_argon2() -> Iterator[None]:
    with cheap_password_hashing():
        yield


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[FleetDB]:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    engine = make_engine(url)
    upgrade(engine)
    yield FleetDB(url, engine, make_sessionmaker(engine), "sqlite")
    engine.dispose()


@pytest.fixture
def migrated(tmp_path: Path) -> str:
    """The URL of a migrated SQLite fleet database, its engine already closed: for tests that
    run a command which opens the database itself (the CLI)."""
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def pg_db(postgres_url: str) -> Iterator[FleetDB]:
    with scratch_pg_schema(postgres_url, "fleet") as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            yield FleetDB(url, engine, make_sessionmaker(engine), "postgresql")
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def fleet_db(request: pytest.FixtureRequest) -> FleetDB:
    """The same test on SQLite and on PostgreSQL."""
    name = "sqlite_db" if request.param == "sqlite" else "pg_db"
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
    db: FleetDB = request.getfixturevalue(name)
    return db


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def scratch_url(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest, name: str
) -> AbstractContextManager[str]:
    """An empty database of ``dialect`` for a migration test: a SQLite file in ``tmp_path``, or
    a scratch PostgreSQL schema ``name`` (dropped afterwards)."""
    if dialect == "sqlite":
        return nullcontext(f"sqlite:///{tmp_path / 'fleet.db'}")
    return scratch_pg_schema(request.getfixturevalue("postgres_url"), name)


def register_in_sql(engine: Engine, terminal_id: str, merchant_id: str = "M01") -> None:
    """A merchant and a terminal written in the columns every revision since 0001 has, for
    migration tests that seed an older schema (today's models may have more columns)."""
    with engine.begin() as c:
        c.execute(
            text("INSERT INTO merchants (id, name, created_at) VALUES (:m, 'Shop', :t)"),
            {"m": merchant_id, "t": T0},
        )
        c.execute(
            text(
                "INSERT INTO terminals (id, merchant_id, model, brand, firmware, acquirer_host, "
                "area, location, credential_hash, revoked, created_at) VALUES (:id, :m, "
                "'PX-5', 'Acme', '2.1.0', 'acq-east', 'pudong', '', :h, false, :t)"
            ),
            {"id": terminal_id, "m": merchant_id, "h": "0" * 64, "t": T0},
        )


def register(
    db: FleetDB,
    terminal_id: str,
    *,
    merchant_id: str = "M01",
    host: str = "acq-east",
    area: str = "pudong",
    model: str = "PX-5",
    firmware: str = "2.1.0",
) -> str:
    """Register a terminal; returns its bearer credential."""
    with db.sessions.begin() as s:
        _, cred = add_terminal(
            s,
            terminal_id=terminal_id,
            merchant_id=merchant_id,
            model=model,
            brand="Acme",
            firmware=firmware,
            acquirer_host=host,
            area=area,
            now=T0,
        )
    return cred.token


def event(
    terminal_id: str,
    seq: int,
    *,
    kind: str = "lifecycle",  # an events row; a heartbeat only upserts terminal_liveness
    code: str | None = None,
    ts: datetime = T0,
    merchant_id: str = "M01",
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "v": 1,
        "terminal_id": terminal_id,
        "merchant_id": merchant_id,
        "seq": seq,
        "ts": ts.isoformat(),
        "kind": kind,
        "data": data or {},
    }
    if code is not None:
        ev["code"] = code
    return ev


@dataclass
class Api:
    """The fleet app over a real database, with a staff and two merchant users logged in."""

    client: Any
    db: FleetDB
    clock: FakeClock
    headers: dict[str, dict[str, str]]  # username -> Authorization header
    creds: dict[str, str]  # terminal_id -> credential

    def as_terminal(self, terminal_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.creds[terminal_id]}"}


def make_api(db: FleetDB, clock: FakeClock, **settings_overrides: Any) -> Iterator[Api]:
    from fastapi.testclient import TestClient

    from posguard.fleet.api.app import create_app
    from posguard.fleet.config import FleetSettings
    from posguard.fleet.repo.users import Role, create_user

    settings = FleetSettings(
        database_url=db.url,
        jwt_secret="test-secret-" + "x" * 32,
        diagnosis_in_process=False,
        **settings_overrides,
    )
    app = create_app(settings, clock=clock)
    creds = {
        "T1": register(db, "T1", merchant_id="M01", area="pudong"),
        "T2": register(db, "T2", merchant_id="M01", area="pudong"),
        "T3": register(db, "T3", merchant_id="M02", area="xuhui", model="QX-9", firmware="1.0.0"),
    }
    users = [
        ("admin", Role.ADMIN, None),
        ("ops", Role.OPS, None),
        ("m01", Role.MERCHANT, "M01"),
        ("m02", Role.MERCHANT, "M02"),
    ]
    with db.sessions.begin() as s:
        for name, role, merchant in users:
            create_user(
                s,
                username=name,
                password=f"{name}-password",
                role=role,
                merchant_id=merchant,
                now=T0,
            )
    with TestClient(app) as client:
        headers = {}
        for name, _, _ in users:
            r = client.post(
                "/api/v1/auth/token", data={"username": name, "password": f"{name}-password"}
            )
            assert r.status_code == 200, r.text
            headers[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        yield Api(client, db, clock, headers, creds)


@pytest.fixture
def api(sqlite_db: FleetDB, clock: FakeClock) -> Iterator[Api]:
    yield from make_api(sqlite_db, clock)
