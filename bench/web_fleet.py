"""The fleet the dashboard benchmarks render (``bench web``, ``bench/web_inventory.py``): one
seeding of merchants, terminals and the ``ops`` user, and one logged-in client with one
median timer, so the two benchmarks differ only in what they ask for (names, models, serials,
firmware and the rows each adds on top).
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from posguard.fleet.api.app import create_app
from posguard.fleet.config import FleetSettings
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.db.models import Merchant, Terminal
from posguard.fleet.repo.users import Role, create_user

PASSWORD = "bench-password"
HOSTS = ("acq-east", "acq-west", "acq-north")
MODELS = (("Acme", "PX-5"), ("Acme", "PX-7"), ("Zeta", "Z9"), ("Nova", "N2"))
_CHUNK = 10_000  # terminal rows per INSERT


@dataclass(frozen=True, slots=True)
class BenchFleet:
    """A seeded fleet: terminal ``i`` is ``T{i:06d}`` of merchant ``M{i % merchants:05d}``."""

    sessions: sessionmaker[Session]
    terminals: int
    merchants: int

    @staticmethod
    def terminal(i: int) -> str:
        return f"T{i:06d}"

    def merchant(self, i: int) -> str:
        return f"M{i % self.merchants:05d}"


@contextmanager
def seeded_fleet(
    url: str,
    terminals: int,
    now: datetime,
    *,
    merchant_name: Callable[[int], str],
    columns: Callable[[int], dict[str, Any]],
    models: tuple[tuple[str, str], ...] = MODELS,
) -> Iterator[BenchFleet]:
    """Migrate ``url``, add one merchant per 50 terminals (named ``merchant_name(m)``), the
    terminals (brand and model from ``models`` in turn, host and area in turn, and the columns
    ``columns(i)`` adds, e.g. firmware and serial) and the ``ops`` user; the caller adds its
    own rows through :attr:`BenchFleet.sessions`, then the engine is disposed."""
    engine = make_engine(url)
    upgrade(engine)
    fleet = BenchFleet(make_sessionmaker(engine), terminals, max(terminals // 50, 1))
    try:
        with fleet.sessions.begin() as s:
            s.execute(
                insert(Merchant),
                [
                    {"id": f"M{m:05d}", "name": merchant_name(m), "created_at": now}
                    for m in range(fleet.merchants)
                ],
            )
            for start in range(0, terminals, _CHUNK):
                rows = []
                for i in range(start, min(start + _CHUNK, terminals)):
                    brand, model = models[i % len(models)]
                    rows.append(
                        {
                            "id": fleet.terminal(i),
                            "merchant_id": fleet.merchant(i),
                            "model": model,
                            "brand": brand,
                            "acquirer_host": HOSTS[i % len(HOSTS)],
                            "area": f"area-{i % 40:02d}",
                            "location": "",
                            "credential_hash": "0" * 64,
                            "revoked": False,
                            "created_at": now,
                            **columns(i),
                        }
                    )
                s.execute(insert(Terminal), rows)
            create_user(s, username="ops", password=PASSWORD, role=Role.OPS, now=now)
        yield fleet
    finally:
        engine.dispose()


@contextmanager
def ops_client(url: str) -> Iterator[TestClient]:
    """The dashboard app on ``url`` (no diagnosis in the process), logged in as ``ops``."""
    settings = FleetSettings(
        database_url=url,
        jwt_secret=SecretStr("bench-secret-0123456789abcdef"),
        diagnosis_in_process=False,
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text)
        assert token is not None
        client.post("/ui/login", data={"username": "ops", "password": PASSWORD, "csrf": token[1]})
        yield client


def median_ms(client: TestClient, path: str, n: int) -> float:
    """The median server time of ``n`` GETs of ``path``, after one warm-up (template compile,
    statement cache, the options' cache)."""
    client.get(path)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    return statistics.median(times)
