"""The terminal inventory's render time at 10,000 and 100,000 terminals (part of ``bench web``).

Each fleet has every terminal registered with a serial and a heartbeat row (liveness), one
reversal and one fault event per 20 terminals, an open incident per 50; 2,000 merchants at
100,000 terminals. Server time through the in-process ASGI client, against ``/healthz`` of the
same app in the same run. Target: p50 <= 100 ms per page at 100,000 terminals.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from bench._result import Result
from posguard.fleet.api.app import create_app
from posguard.fleet.config import FleetSettings
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.db.models import Incident, Merchant, Terminal, TerminalLiveness
from posguard.fleet.repo.events import insert_events
from posguard.fleet.repo.users import Role, create_user
from posguard.fleet.testing import cheap_password_hashing
from posguard.fleet.web import option_cache

PASSWORD = "bench-password"
HOSTS = ("acq-east", "acq-west", "acq-north")
MODELS = (("Acme", "PX-5"), ("Acme", "PX-7"), ("Zeta", "Z9"), ("Nova", "N2"))
FIRMWARE = ("2.0.3", "2.1.0", "2.1.0", "2.2.0")


def _seed(url: str, terminals: int, now: datetime) -> None:
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    merchants = max(terminals // 50, 1)
    with sessions.begin() as s:
        s.execute(
            insert(Merchant),
            [
                {"id": f"M{m:05d}", "name": f"商户 {m} 便利店", "created_at": now}
                for m in range(merchants)
            ],
        )
        for start in range(0, terminals, 10_000):
            rows, beats = [], []
            for i in range(start, min(start + 10_000, terminals)):
                brand, model = MODELS[i % len(MODELS)]
                tid, mid = f"T{i:06d}", f"M{i % merchants:05d}"
                rows.append(
                    {
                        "id": tid,
                        "merchant_id": mid,
                        "model": model,
                        "brand": brand,
                        "firmware": FIRMWARE[i % 7 % len(FIRMWARE)],
                        "acquirer_host": HOSTS[i % len(HOSTS)],
                        "area": f"area-{i % 40:02d}",
                        "location": "",
                        "serial": f"SN{(i * 7919) % 10**8:08d}",
                        "credential_hash": "0" * 64,
                        "revoked": False,
                        "created_at": now,
                    }
                )
                beat = now - timedelta(seconds=(i * 37) % 7200)
                beats.append(
                    {
                        "terminal_id": tid,
                        "merchant_id": mid,
                        "last_heartbeat_at": beat,
                        "received_at": beat,
                        "seq": 1,
                        "interval_s": 60.0,
                        "data": {"printer": "ok", "firmware": "2.1.0"},
                    }
                )
            s.execute(insert(Terminal), rows)
            s.execute(insert(TerminalLiveness), beats)
        create_user(s, username="ops", password=PASSWORD, role=Role.OPS, now=now)
    events = []
    for i in range(0, terminals, 20):
        tid, mid = f"T{i:06d}", f"M{i % merchants:05d}"
        ts = now - timedelta(minutes=i % 600)
        events.append(
            {
                "terminal_id": tid,
                "merchant_id": mid,
                "seq": 2,
                "ts": ts,
                "received_at": ts,
                "kind": "reversal",
                "code": None,
                "data": {"stage": "queued", "stan": f"{i % 999999:06d}", "batch": "000001"},
            }
        )
        events.append({**events[-1], "seq": 3, "kind": "fault", "code": "NET.READ_TIMEOUT"})
    with sessions.begin() as s:
        for part in range(0, len(events), 5000):
            insert_events(s, rows=events[part : part + 5000])
        s.execute(
            insert(Incident),
            [
                {
                    "rule_id": "bench",
                    "scope": f"terminal:T{i:06d}",
                    "open_key": f"bench|terminal:T{i:06d}",
                    "code": "NET.READ_TIMEOUT",
                    "severity": "major",
                    "status": "open",
                    "terminal_id": f"T{i:06d}",
                    "merchant_id": f"M{i % merchants:05d}",
                    "explanation": {"reason": "bench"},
                    "opened_at": now - timedelta(hours=1),
                }
                for i in range(0, terminals, 50)
            ],
        )
    engine.dispose()


def _p50_ms(client: TestClient, path: str, n: int) -> float:
    client.get(path)  # warm (template compile, statement cache, the options' cache)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    return statistics.median(times)


def _next_link(client: TestClient, path: str, hops: int) -> str:
    """A page ``hops`` pages in, following the page's own "next" links (a real cursor)."""
    for _ in range(hops):
        found = re.search(
            r'href="(/ui/inventory\?[^"]*after=[^"]+)" id="page-next"', client.get(path).text
        )
        assert found is not None, path
        path = found[1].replace("&amp;", "&")
    return path


def run_inventory(terminals: int, n: int) -> list[Result]:
    with cheap_password_hashing(), tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'fleet.db'}"
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        _seed(url, terminals, now)
        seeded_s = time.perf_counter() - t0
        settings = FleetSettings(
            database_url=url,
            jwt_secret="bench-secret-0123456789abcdef",
            diagnosis_in_process=False,
        )
        with TestClient(create_app(settings), base_url="http://127.0.0.1") as c:
            page = c.get("/ui/login")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token is not None
            c.post("/ui/login", data={"username": "ops", "password": PASSWORD, "csrf": token[1]})
            base = _p50_ms(c, "/healthz", n * 3)
            pages = {
                "first page": "/ui/inventory",
                "page 5 by cursor": _next_link(c, "/ui/inventory", 4),
                "sorted by firmware desc, page 3": _next_link(
                    c, "/ui/inventory?sort=firmware&order=desc", 2
                ),
                "host + model filter": "/ui/inventory?host=acq-east&model=PX-5",
                "search merchant name": "/ui/inventory?q=%E5%95%86%E6%88%B7%2012%20",
                "search serial prefix": "/ui/inventory?q=SN0001",
                "status filter (degraded), map kept": "/ui/inventory?status=degraded",
                "status filter (ok), map kept": "/ui/inventory?status=ok",
            }
            out = []
            cold = []
            for _ in range(3):
                option_cache.forget()  # the health map and the drop-downs computed anew
                t0 = time.perf_counter()
                assert c.get("/ui/inventory?status=degraded").status_code == 200
                cold.append((time.perf_counter() - t0) * 1000)
            out.append(
                Result(
                    name=f"inventory status filter, cold (health map computed), {terminals:,}",
                    ours=statistics.median(cold),
                    unit="ms",
                    baseline=base,
                    baseline_name="/healthz, same app",
                    higher_is_better=False,
                    target="-",
                    note="p50 of 3; the map is then kept 10 s for the pages that follow",
                )
            )
            for name, path in pages.items():
                out.append(
                    Result(
                        name=f"inventory {name}, {terminals:,} terminals",
                        ours=_p50_ms(c, path, n),
                        unit="ms",
                        baseline=base,
                        baseline_name="/healthz, same app",
                        higher_is_better=False,
                        target="p50 <= 100 ms" if terminals >= 100_000 else "-",
                        note=f"p50 of {n}, 50 per page; seeding took {seeded_s:.0f}s",
                    )
                )
            return out
