"""The network report at a realistic size: 10,000 terminals x 30 days in SQLite (hourly sampled
heartbeats with link, carrier, signal and RTT: 7.2 M rows; a sale per terminal-hour with
timeouts and resets: 7.2 M events).

Server time of ``/ui/network`` (4 weeks, in-process ASGI client, logged-in ops session):
baseline = the same page before the daily rollup ran (every piece of the window counted from
the data, the old way), then after ``roll_up`` (whole past days from ``network_daily``, the
other ended hours from ``network_hourly``; only the hours the window's ends and week boundaries
fall in still from the data). Checks
that both give the same report. Usage: ``python -m bench network [--quick]`` (``--quick``:
1,000 terminals).
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from bench._result import Result
from posguard.fleet.api.app import create_app
from posguard.fleet.clock import FakeClock
from posguard.fleet.config import FleetSettings
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.db.models import Merchant, Terminal
from posguard.fleet.network_report import network_report
from posguard.fleet.network_report.rollup import roll_up
from posguard.fleet.repo.users import Role, create_user
from posguard.fleet.testing import cheap_password_hashing

PASSWORD = "bench-password"
AREAS = tuple(f"area-{i:02d}" for i in range(40))
DAYS = 30
_TS = "strftime('%Y-%m-%d %H:%M:%S', :start, '+' || h.i || ' hours'{extra}) || '.000000'"
_HOURS = "WITH RECURSIVE h(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM h WHERE i < :hours - 1) "
_SAMPLES = (
    _HOURS + "INSERT INTO heartbeat_samples (terminal_id, bucket, merchant_id, ts, seq, data, "
    "shard_slot, received_at) SELECT t.id, "
    + _TS.format(extra="")
    + ", t.merchant_id, "
    + _TS.format(extra=", '+' || (abs(random()) % 600) || ' seconds'")
    + ", 2 * h.i, json_object("
    "'link', CASE t.rowid % 4 WHEN 0 THEN 'wired' WHEN 1 THEN 'wifi' ELSE '4g' END, "
    "'carrier', CASE t.rowid % 3 WHEN 0 THEN 'China Mobile' WHEN 1 THEN 'China Unicom' "
    "ELSE 'China Telecom' END, "
    "'signal_dbm', -60 - abs(random()) % 60, "
    "'rtt_ms', 20 + (abs(random()) % 4000) / 10.0, "
    "'failover', json(CASE WHEN abs(random()) % 50 = 0 THEN 'true' ELSE 'false' END)), "
    "0, :start FROM terminals t, h"
)
_SALES = (
    _HOURS + "INSERT INTO events (terminal_id, merchant_id, seq, ts, received_at, kind, code, "
    "data, shard_slot) SELECT t.id, t.merchant_id, 2 * h.i + 1, "
    + _TS.format(extra=", '+' || (600 + abs(random()) % 3000) || ' seconds'")
    + ", :start, 'transaction', "
    "CASE abs(random()) % 1000 WHEN 0 THEN 'NET.READ_TIMEOUT' WHEN 1 THEN 'NET.READ_TIMEOUT' "
    "WHEN 2 THEN 'NET.CONNECTION_RESET' ELSE NULL END, "
    "json_object('type', 'sale', 'outcome', 'approved'), 0 FROM terminals t, h"
)


def _seed(url: str, terminals: int, start: datetime, now: datetime) -> None:
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    merchants = max(terminals // 20, 1)
    with sessions.begin() as s:
        s.execute(
            insert(Merchant),
            [
                {"id": f"M{m:05d}", "name": f"merchant {m}", "created_at": now}
                for m in range(merchants)
            ],
        )
        s.execute(
            insert(Terminal),
            [
                {
                    "id": f"T{i:06d}",
                    "merchant_id": f"M{i % merchants:05d}",
                    "model": "PX-5",
                    "brand": "Acme",
                    "firmware": "2.1.0",
                    "acquirer_host": "acq-east",
                    "area": AREAS[i % len(AREAS)],
                    "location": "",
                    "install_date": date(2025, 1, 1),
                    "warranty_end": date(2027, 1, 1),
                    "credential_hash": "0" * 64,
                    "revoked": False,
                    "created_at": now,
                }
                for i in range(terminals)
            ],
        )
        create_user(s, username="ops", password=PASSWORD, role=Role.OPS, now=now)
        params = {"start": start.replace(tzinfo=None).isoformat(" "), "hours": DAYS * 24}
        s.execute(text(_SAMPLES), params)
        s.execute(text(_SALES), params)
    engine.dispose()


def _page_ms(client: TestClient, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get("/ui/network?weeks=4")
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.status_code
    return statistics.median(times)


def run(quick: bool) -> list[Result]:
    terminals = 1_000 if quick else 10_000
    now = datetime(2026, 12, 2, 10, 17, tzinfo=UTC)
    start = datetime(2026, 12, 2, tzinfo=UTC) - timedelta(days=DAYS - 1)
    size = f"{terminals:,} terminals x {DAYS} days"
    with cheap_password_hashing(), tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'fleet.db'}"
        t0 = time.perf_counter()
        _seed(url, terminals, start, now)
        seeded_s = time.perf_counter() - t0
        settings = FleetSettings(
            database_url=url,
            jwt_secret="bench-secret-0123456789abcdef",
            diagnosis_in_process=False,
        )
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        app = create_app(settings, clock=FakeClock(now))
        with TestClient(app, base_url="http://127.0.0.1") as c:
            page = c.get("/ui/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token is not None
            c.post("/ui/login", data={"username": "ops", "password": PASSWORD, "csrf": token[1]})
            before = _page_ms(c, 1)
            t0 = time.perf_counter()
            built = roll_up(sessions, now, days=DAYS)
            rollup_s = time.perf_counter() - t0
            after = _page_ms(c, 3)
        with sessions() as s:
            same = network_report(s, now=now, weeks=4) == network_report(
                s, now=now, weeks=4, rollup=False
            )
        engine.dispose()
    assert same, "the report from the rollup differs from the one pass over the data"
    return [
        Result(
            name=f"/ui/network (4 weeks), {size}, from the daily and hourly rollup",
            ours=after,
            unit="ms",
            baseline=before,
            baseline_name="same page before the rollup ran (all from the data)",
            higher_is_better=False,
            note=f"median of 3 (baseline: 1); same report: {same}; seeding took {seeded_s:.0f}s",
        ),
        Result(
            name=f"network rollup of {len(built.days)} days + {len(built.hours)} hours, {size}",
            ours=rollup_s,
            unit="s",
            note="each later day: about 1/30 of this",
        ),
    ]


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)
