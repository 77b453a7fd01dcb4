"""Simulation benchmarks: the light fleet at estate scale, and its events through the fleet.

1. Generation: ``posguard sim scale`` with 100,000 light terminals (20,000 with ``--quick``)
   playing the default 60-second story, in its own process so its peak RSS is its own.
   Baseline, same run: a naive model of the same estate (one Python object per terminal, a
   random draw per terminal per tick, same event dicts) on 10,000 terminals.
2. Ingest into SQLite through the fleet's batch-ingest storage function
   (``EventStore.store``: schema validation, terminal/merchant/code checks, idempotent insert)
   of every event of that run, in batches of 1,000. Baseline, same run: DBAPI ``executemany``
   of the same rows with the fleet's own insert statement into a second fresh database.
3. The same path over HTTP for a sample (uvicorn on 127.0.0.1 in a thread, real sockets, each
   terminal posting its own events with its own credential, 16 at a time). Baseline: the
   direct store rate of item 2.

Run: ``.venv/bin/python -m bench sim`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import insert

from bench._result import Result
from posguard.catalog import default_catalog
from posguard.fleet.api.app import create_app
from posguard.fleet.clock import SystemClock
from posguard.fleet.config import FleetSettings
from posguard.fleet.context import FleetContext
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.db.models import Merchant, Terminal
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.shard import slot_of
from posguard.fleet.ingest.store import EventStore, Outcome
from posguard.fleet.repo.events import INSERT_SQL
from posguard.fleet.security import new_terminal_credential
from posguard.sim.light import EventDict, LightFleet
from posguard.sim.population import Estate, build_estate
from posguard.sim.timeline import load_timeline

# Events per store call and per executemany: the fleet's own ingest_batch_max default.
BATCH = 1000
T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


# --- 1. generation ------------------------------------------------------------------------------


def _scale_subprocess(terminals: int) -> dict[str, Any]:
    """``posguard sim scale --json`` in its own process (its peak RSS is the model's own)."""
    argv = [sys.executable, "-m", "posguard.cli", "sim", "scale", "--json"]
    out = subprocess.run(
        [*argv, "--terminals", str(terminals)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def _naive_rate(estate: Estate, seconds: int = 60) -> float:
    """Events/s of a per-terminal Python model of the same behaviour (heartbeat every 60 s,
    12 sales an hour), building the same event dicts."""
    rng = random.Random(1)
    terms = [
        {"tid": t.terminal_id, "mid": t.merchant_id, "seq": 0, "phase": rng.uniform(0, 60)}
        for t in estate.terminals
    ]
    rate = 12 / 3600
    events = 0
    t0 = time.perf_counter()
    for tick in range(seconds):
        ts = (T0 + timedelta(seconds=tick)).isoformat()
        batch: list[EventDict] = []
        for term in terms:
            beat = int((tick + 1 + term["phase"]) // 60) > int((tick + term["phase"]) // 60)
            sale = rng.random() < rate
            for kind, data in (
                ("heartbeat", {"interval_s": 60.0}) if beat else (None, None),
                ("transaction", {"type": "sale", "outcome": "approved", "rc": "00"})
                if sale
                else (None, None),
            ):
                if kind is None:
                    continue
                term["seq"] += 1
                batch.append(
                    {
                        "v": 1,
                        "terminal_id": term["tid"],
                        "merchant_id": term["mid"],
                        "seq": term["seq"],
                        "ts": ts,
                        "kind": kind,
                        "data": data,
                    }
                )
        events += len(batch)
    return events / (time.perf_counter() - t0)


# --- 2. ingest ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _fleet_db(estate: Estate) -> Iterator[tuple[str, dict[str, str]]]:
    """A migrated SQLite fleet database with every terminal of ``estate`` registered."""
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{Path(d) / 'fleet.db'}"
        eng = make_engine(url)
        upgrade(eng)
        creds: dict[str, str] = {}
        rows = []
        for t in estate.terminals:
            cred = new_terminal_credential(t.terminal_id)
            creds[t.terminal_id] = cred.token
            rows.append(
                {
                    "id": t.terminal_id,
                    "merchant_id": t.merchant_id,
                    "model": t.model,
                    "brand": t.brand,
                    "firmware": t.firmware,
                    "acquirer_host": t.host,
                    "area": t.area,
                    "location": "",
                    "credential_hash": cred.hash,
                    "revoked": False,
                    "created_at": T0,
                }
            )
        with eng.begin() as c:
            c.execute(
                insert(Merchant),
                [{"id": m.merchant_id, "name": m.name, "created_at": T0} for m in estate.merchants],
            )
            for i in range(0, len(rows), 5000):
                c.execute(insert(Terminal), rows[i : i + 5000])
        eng.dispose()
        yield url, creds


def _store(url: str) -> EventStore:
    eng = make_engine(url)
    return EventStore(make_sessionmaker(eng), catalog=default_catalog(), clock=SystemClock())


def _store_rate(url: str, events: list[EventDict]) -> tuple[float, int]:
    store = _store(url)
    stored = 0
    t = time.perf_counter()
    for i in range(0, len(events), BATCH):
        results = store.store(events[i : i + BATCH], transport="bench")
        stored += sum(1 for r in results if r.outcome is Outcome.STORED)
    rate = len(events) / (time.perf_counter() - t)
    store.sessions.kw["bind"].dispose()
    return rate, stored


def _raw_rate(url: str, events: list[EventDict]) -> float:
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    rows = [
        (
            e["terminal_id"],
            e["merchant_id"],
            e["seq"],
            datetime.fromisoformat(e["ts"]).astimezone(UTC).replace(tzinfo=None).isoformat(" "),
            now,
            e["kind"],
            e.get("code"),
            json.dumps(e["data"]),
            slot_of(e["terminal_id"]),
        )
        for e in events
    ]
    eng = make_engine(url)
    raw = eng.raw_connection()
    t = time.perf_counter()
    try:
        cur = raw.cursor()
        for i in range(0, len(rows), BATCH):
            cur.executemany(INSERT_SQL["sqlite"], rows[i : i + BATCH])
            raw.commit()
    finally:
        raw.close()
        eng.dispose()
    return len(rows) / (time.perf_counter() - t)


# --- 3. HTTP ------------------------------------------------------------------------------------


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _http_rate(url: str, creds: dict[str, str], events: list[EventDict]) -> tuple[float, float]:
    """(events/s, requests/s) posting each terminal's events as one batch, 16 at a time."""
    settings = FleetSettings(database_url=url, jwt_secret="bench-secret-" + "x" * 20)
    catalog = default_catalog()
    eng = make_engine(url, pool_size=40, max_overflow=40)
    sessions = make_sessionmaker(eng)
    ctx = FleetContext(
        settings=settings.model_copy(update={"diagnosis_in_process": False}),
        engine=eng,
        sessions=sessions,
        catalog=catalog,
        rules=load_rules(None, catalog=catalog),
        clock=SystemClock(),
        store=EventStore(sessions, catalog=catalog, clock=SystemClock()),
        jwt_secret="bench",
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(create_app(context=ctx), log_level="warning", log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    per: dict[str, list[EventDict]] = defaultdict(list)
    for e in events:
        per[e["terminal_id"]].append(e)

    async def post_all() -> None:
        sem = asyncio.Semaphore(16)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            async def one(tid: str, batch: list[EventDict]) -> None:
                async with sem:
                    r = await client.post(
                        "/api/v1/ingest/batch",
                        json={"events": batch},
                        headers={"Authorization": f"Bearer {creds[tid]}"},
                    )
                    r.raise_for_status()

            await asyncio.gather(*(one(tid, b) for tid, b in per.items()))

    t = time.perf_counter()
    asyncio.run(post_all())
    wall = time.perf_counter() - t
    server.should_exit = True
    thread.join(15)
    eng.dispose()
    return len(events) / wall, len(per) / wall


def run(quick: bool = False) -> list[Result]:
    n = 20_000 if quick else 100_000
    scale = _scale_subprocess(n)
    estate = build_estate(terminals=n, seed=1)
    naive_n = 10_000
    naive = _naive_rate(build_estate(terminals=naive_n, seed=1))
    fleet = LightFleet(estate, load_timeline(), seed=1)
    events: list[EventDict] = []
    fleet.run(events.extend)
    with _fleet_db(estate) as (url, creds):
        store_rate, stored = _store_rate(url, events)
        rejected = len(events) - stored
        with _fleet_db(estate) as (raw_url, _):
            raw_rate = _raw_rate(raw_url, events)
    sample_terms = 2_000 if quick else 5_000
    wanted = {t.terminal_id for t in estate.terminals[:sample_terms]}
    sample = [e for e in events if e["terminal_id"] in wanted]
    with _fleet_db(estate) as (url, creds):
        http_events, http_requests = _http_rate(url, creds, sample)
    label = f"{n // 1000}k light terminals"
    speed = scale["simulated_s"] / scale["wall_s"]
    return [
        Result(
            f"generate, {label} (60 s story)",
            scale["events_per_s"],
            "events/s",
            naive,
            f"naive per-terminal model, {naive_n // 1000}k",
            target="≥ 100k events/s",
            note=f"{scale['events']:,} events, {speed:.0f}× real time",
        ),
        Result(
            f"peak RSS, {label}",
            scale["peak_rss_mib"],
            "MiB",
            higher_is_better=False,
            target="< 1 GiB",
            note=f"estate build {scale['estate_build_s']} s",
        ),
        Result(
            f"ingest into SQLite via EventStore.store, {label}",
            store_rate,
            "events/s",
            raw_rate,
            "raw executemany, same rows",
            note=f"{len(events):,} events, batches of {BATCH}, {rejected} rejected",
        ),
        Result(
            f"ingest over HTTP, {len(wanted):,} terminals",
            http_events,
            "events/s",
            store_rate,
            "EventStore.store direct",
            note=f"{len(sample):,} events, {http_requests:,.0f} requests/s, 16 in flight",
        ),
    ]
