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
from bench.web_fleet import median_ms, ops_client, seeded_fleet
from posguard.fleet.db.models import Incident, TerminalLiveness
from posguard.fleet.repo.events import insert_events
from posguard.fleet.testing import cheap_password_hashing
from posguard.fleet.web import option_cache

FIRMWARE = ("2.0.3", "2.1.0", "2.1.0", "2.2.0")


def _seed(url: str, terminals: int, now: datetime) -> None:
    with seeded_fleet(
        url,
        terminals,
        now,
        merchant_name=lambda m: f"商户 {m} 便利店",
        columns=lambda i: {
            "firmware": FIRMWARE[i % 7 % len(FIRMWARE)],
            "serial": f"SN{(i * 7919) % 10**8:08d}",
        },
    ) as fleet:
        with fleet.sessions.begin() as s:
            for start in range(0, terminals, 10_000):
                beats = []
                for i in range(start, min(start + 10_000, terminals)):
                    beat = now - timedelta(seconds=(i * 37) % 7200)
                    beats.append(
                        {
                            "terminal_id": fleet.terminal(i),
                            "merchant_id": fleet.merchant(i),
                            "last_heartbeat_at": beat,
                            "received_at": beat,
                            "seq": 1,
                            "interval_s": 60.0,
                            "data": {"printer": "ok", "firmware": "2.1.0"},
                        }
                    )
                s.execute(insert(TerminalLiveness), beats)
        events = []
        for i in range(0, terminals, 20):
            ts = now - timedelta(minutes=i % 600)
            events.append(
                {
                    "terminal_id": fleet.terminal(i),
                    "merchant_id": fleet.merchant(i),
                    "seq": 2,
                    "ts": ts,
                    "received_at": ts,
                    "kind": "reversal",
                    "code": None,
                    "data": {"stage": "queued", "stan": f"{i % 999999:06d}", "batch": "000001"},
                }
            )
            events.append({**events[-1], "seq": 3, "kind": "fault", "code": "NET.READ_TIMEOUT"})
        with fleet.sessions.begin() as s:
            for part in range(0, len(events), 5000):
                insert_events(s, rows=events[part : part + 5000])
            s.execute(
                insert(Incident),
                [
                    {
                        "rule_id": "bench",
                        "scope": f"terminal:{fleet.terminal(i)}",
                        "open_key": f"bench|terminal:{fleet.terminal(i)}",
                        "code": "NET.READ_TIMEOUT",
                        "severity": "major",
                        "status": "open",
                        "terminal_id": fleet.terminal(i),
                        "merchant_id": fleet.merchant(i),
                        "explanation": {"reason": "bench"},
                        "opened_at": now - timedelta(hours=1),
                    }
                    for i in range(0, terminals, 50)
                ],
            )


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
        with ops_client(url) as c:
            base = median_ms(c, "/healthz", n * 3)
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
                        ours=median_ms(c, path, n),
                        unit="ms",
                        baseline=base,
                        baseline_name="/healthz, same app",
                        higher_is_better=False,
                        target="p50 <= 100 ms" if terminals >= 100_000 else "-",
                        note=f"p50 of {n}, 50 per page; seeding took {seeded_s:.0f}s",
                    )
                )
            return out
