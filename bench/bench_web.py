"""Dashboard render time with a big fleet: 10,000 terminals and 100,000 events in SQLite.

Server time (in-process ASGI client, no network) to render the overview, its live fragment,
the incident list and a terminal page; baseline: the same app's ``/healthz`` in the same run.
Target: under 300 ms per page. Then the terminal inventory at 10,000 and 100,000 terminals
(``bench/web_inventory.py``; target p50 <= 100 ms at 100,000). Usage:
``python -m bench web [--quick]`` (``--quick``: 2,000 and 10,000 terminals).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._result import Result
from bench.web_fleet import MODELS, BenchFleet, median_ms, ops_client, seeded_fleet
from bench.web_inventory import run_inventory
from posguard.catalog import default_catalog
from posguard.fleet.db.models import Incident
from posguard.fleet.maintenance import set_schedule
from posguard.fleet.repo.events import insert_events
from posguard.fleet.testing import cheap_password_hashing

FAULTS = ("NET.READ_TIMEOUT", "NET.CONNECT_TIMEOUT", "PRN.PAPER_OUT", "TXN.MAC_ERROR")


def _seed(url: str, terminals: int, events: int, now: datetime) -> None:
    rng = random.Random(7)
    with seeded_fleet(
        url,
        terminals,
        now,
        merchant_name=lambda m: f"merchant {m}",
        columns=lambda i: {
            "firmware": "2.1.0",
            "install_date": date(2025, 1, 1) + timedelta(days=i % 300),
            "warranty_end": date(2027, 1, 1),
        },
    ) as fleet:
        with fleet.sessions.begin() as s:
            for _, model in MODELS:
                set_schedule(s, model=model, inspection_interval_days=180, firmware_minimum="2.0.0")
        _add_events(fleet, rng, events, now)
        _add_incidents(fleet, rng, now)


def _add_events(fleet: BenchFleet, rng: random.Random, events: int, now: datetime) -> None:
    terminals, sessions = fleet.terminals, fleet.sessions
    seq: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    for n in range(events):
        tid = f"T{rng.randrange(terminals):06d}"
        seq[tid] = seq.get(tid, 0) + 1
        ts = now - timedelta(seconds=rng.randrange(14 * 86400))
        r = rng.random()
        data: dict[str, Any]
        if r < 0.55:
            kind, code, data = "heartbeat", None, {"interval_s": 60, "uptime_s": 3600}
        elif r < 0.85:
            outcome = "approved" if rng.random() < 0.9 else "declined"
            kind, code, data = "transaction", None, {"type": "sale", "outcome": outcome}
        elif r < 0.9:
            kind, code, data = "printer", None, {"state": rng.choice(["ok", "ok", "paper_out"])}
        else:
            kind, code, data = "fault", rng.choice(FAULTS), {"host": "primary"}
        batch.append(
            {
                "terminal_id": tid,
                "merchant_id": fleet.merchant(int(tid[1:])),
                "seq": seq[tid],
                "ts": ts,
                "received_at": ts,
                "kind": kind,
                "code": code,
                "data": data,
            }
        )
        if len(batch) == 5000 or n == events - 1:
            with sessions.begin() as s:
                insert_events(s, rows=batch)
            batch = []


def _add_incidents(fleet: BenchFleet, rng: random.Random, now: datetime) -> None:
    terminals, sessions = fleet.terminals, fleet.sessions
    cat = default_catalog()
    with sessions.begin() as s:
        for i in range(min(terminals // 20, 600)):
            tid = f"T{rng.randrange(terminals):06d}"
            code = FAULTS[i % len(FAULTS)]
            s.add(
                Incident(
                    rule_id=f"bench-{i}",
                    scope=f"terminal:{tid}",
                    open_key=f"bench-{i}|terminal:{tid}" if i % 3 else None,
                    code=code,
                    severity=cat[code].severity.value,
                    status="open" if i % 3 else "resolved",
                    terminal_id=tid,
                    merchant_id=fleet.merchant(int(tid[1:])),
                    explanation={"reason": "bench"},
                    opened_at=now - timedelta(hours=i % 200),
                    resolved_at=None
                    if i % 3
                    else now - timedelta(hours=i % 200) + timedelta(hours=2),
                )
            )


def run(quick: bool) -> list[Result]:
    terminals, events, n = (2_000, 20_000, 5) if quick else (10_000, 100_000, 15)
    with cheap_password_hashing(), tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'fleet.db'}"
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        _seed(url, terminals, events, now)
        seeded_s = time.perf_counter() - t0
        with ops_client(url) as c:
            base = median_ms(c, "/healthz", n * 3)
            pages = {
                "overview": "/ui/",
                "overview live fragment": "/ui/overview/live",
                "overview filtered (host+model)": "/ui/?host=acq-east&model=PX-5",
                "incident list": "/ui/incidents",
                "terminal page": "/ui/terminals/T000042",
            }
            out = []
            for name, path in pages.items():
                out.append(
                    Result(
                        name=f"render {name}, {terminals:,} terminals / {events:,} events",
                        ours=median_ms(c, path, n),
                        unit="ms",
                        baseline=base,
                        baseline_name="/healthz, same app",
                        higher_is_better=False,
                        target="< 300 ms",
                        note=f"median of {n}; seeding took {seeded_s:.0f}s",
                    )
                )
    for size in (2_000, 10_000) if quick else (10_000, 100_000):
        out.extend(run_inventory(size, n))
    return out


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r, file=sys.stderr if os.environ.get("QUIET") else sys.stdout)
