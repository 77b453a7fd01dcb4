"""Dashboard fixtures: a small fleet (two merchants, five terminals, users of every role) and
the fleet app under a real uvicorn server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import uvicorn

from posguard.fleet.api.app import create_app
from posguard.fleet.config import FleetSettings
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.maintenance import set_schedule
from posguard.fleet.repo.terminals import add_terminal
from posguard.fleet.repo.users import Role, create_user
from posguard.fleet.testing import cheap_password_hashing, scratch_pg_schema

PASSWORD = "correct horse battery"
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

TERMINALS = (
    # id, merchant, model, brand, host, area
    ("T1001", "M01", "PX-5", "Acme", "acq-east", "pudong"),
    ("T1002", "M01", "PX-5", "Acme", "acq-east", "pudong"),
    ("T1003", "M01", "Z9", "Zeta", "acq-west", "xuhui"),
    ("T2001", "M02", "PX-5", "Acme", "acq-east", "haidian"),
    ("T2002", "M02", "Z9", "Zeta", "acq-west", "haidian"),
)


@dataclass
class Seeded:
    url: str
    settings: FleetSettings
    credentials: dict[str, str] = field(default_factory=dict)


def seed_fleet(tmp: Path, *, now: datetime = T0, url: str | None = None) -> Seeded:
    """Migrate and fill a database: SQLite in ``tmp`` unless ``url`` names another."""
    url = url or f"sqlite:///{tmp / 'fleet.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    out = Seeded(
        url,
        FleetSettings(
            database_url=url,
            jwt_secret="web-test-secret-0123456789abcdef",  # type: ignore[arg-type]
            diagnosis_poll_s=0.1,
        ),
    )
    with sessions.begin() as s:
        for tid, mid, model, brand, host, area in TERMINALS:
            _, cred = add_terminal(
                s,
                terminal_id=tid,
                merchant_id=mid,
                merchant_name=f"{mid} 便利店",
                model=model,
                brand=brand,
                firmware="2.1.0",
                acquirer_host=host,
                area=area,
                now=now,
                install_date=date(2025, 1, 10),
                warranty_end=date(2027, 1, 10),
            )
            out.credentials[tid] = cred.token
        set_schedule(s, model="PX-5", inspection_interval_days=180, firmware_minimum="2.0.0")
        create_user(s, username="ops", password=PASSWORD, role=Role.OPS, now=now)
        create_user(s, username="admin", password=PASSWORD, role=Role.ADMIN, now=now)
        create_user(
            s, username="shop1", password=PASSWORD, role=Role.MERCHANT, merchant_id="M01", now=now
        )
        create_user(
            s, username="shop2", password=PASSWORD, role=Role.MERCHANT, merchant_id="M02", now=now
        )
    engine.dispose()
    return out


def event(tid: str, seq: int, kind: str, ts: datetime, **data: object) -> dict[str, object]:
    merchant = next(m for t, m, *_ in TERMINALS if t == tid)
    return {
        "v": 1,
        "terminal_id": tid,
        "merchant_id": merchant,
        "seq": seq,
        "ts": ts.isoformat(),
        "kind": kind,
        "data": dict(data),
    }


def fault(tid: str, seq: int, code: str, ts: datetime, **data: object) -> dict[str, object]:
    """A ``fault`` event of ``code`` (what :func:`event` builds, plus the code)."""
    return {**event(tid, seq, "fault", ts, **data), "code": code}


@pytest.fixture(autouse=True)
def _cheap_argon2() -> Iterator[None]:
    with cheap_password_hashing():
        yield


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    return seed_fleet(tmp_path)


class LiveServer:
    """The fleet app under a real uvicorn on 127.0.0.1 and an ephemeral port, in a thread."""

    def __init__(self, settings: FleetSettings) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), log_level="warning", lifespan="on", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@pytest.fixture
def live_server(seeded: Seeded) -> Iterator[tuple[LiveServer, Seeded]]:
    with LiveServer(seeded.settings) as srv:
        yield srv, seeded


@pytest.fixture
def pg_seeded(postgres_url: str, tmp_path: Path) -> Iterator[Seeded]:
    """The same fleet in a fresh PostgreSQL schema (dropped afterwards)."""
    with scratch_pg_schema(postgres_url, "web") as url:
        yield seed_fleet(tmp_path, url=url)
