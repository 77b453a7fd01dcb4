"""Fleet service benchmarks.

1. Ingest rate into SQLite and PostgreSQL through HTTP batches (uvicorn in its own process,
   real sockets) and through MQTT (Mosquitto, ingest worker in its own process), each against a
   raw batched insert (DBAPI ``executemany``, same table, same rows, same batch size) into the
   same database in the same run.
2. Fault-to-incident latency (p50/p99) with 10,000 terminals sending heartbeats, the diagnosis
   loop running at its default poll interval.
3. Memory of the diagnosis state (directory + per-terminal rule state) at 10,000 and 100,000
   terminals (tracemalloc).
4. The whole pipeline with a light fleet of 100,000 terminals, MQTT, 2 ingest workers, 2 shards
   and a correlator on PostgreSQL (:mod:`bench.bench_fleet_scale`, also ``python -m bench
   fleet_scale`` alone; ``POSGUARD_BENCH_FLEET_TERMINALS`` sets the scale).

Run: ``.venv/bin/python -m bench fleet`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing as mp
import os
import queue
import socket
import statistics
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, insert, select, text

from bench._result import Result
from posguard.catalog import default_catalog
from posguard.fleet.api.deps import TerminalAuth
from posguard.fleet.clock import SystemClock
from posguard.fleet.config import FleetSettings
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.db.models import EventRow, Incident, Merchant, Terminal
from posguard.fleet.diagnosis.directory import Placement, TerminalDirectory
from posguard.fleet.diagnosis.engine import DiagnosisEngine
from posguard.fleet.diagnosis.observed import Observed
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.service import DiagnosisService
from posguard.fleet.diagnosis.shard import slot_of
from posguard.fleet.ingest.store import EventStore
from posguard.fleet.repo.event_insert import insert_event_rows
from posguard.fleet.repo.events import INSERT_SQL
from posguard.fleet.security import new_terminal_credential
from posguard.fleet.serve import listening_sockets

POSTGRES = os.environ.get(
    "POSGUARD_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MQTT = (
    os.environ.get("POSGUARD_TEST_MQTT_HOST", "127.0.0.1"),
    int(os.environ.get("POSGUARD_TEST_MQTT_PORT", "1883")),
)
BATCH = 500
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def _database(kind: str) -> Iterator[str]:
    """A freshly migrated fleet database URL (SQLite file or a PostgreSQL schema), dropped after."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            url = f"sqlite:///{Path(d) / 'fleet.db'}"
            eng = make_engine(url)
            upgrade(eng)
            eng.dispose()
            yield url
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES else "?"
    url = f"{POSTGRES}{sep}options=-csearch_path%3D{schema}"
    eng = make_engine(url)
    try:
        upgrade(eng)
        eng.dispose()
        yield url
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _register(url: str, n: int, *, prefix: str, hosts: int = 10, areas: int = 50) -> dict[str, str]:
    """Bulk-register n terminals; returns terminal_id -> credential."""
    eng = make_engine(url)
    creds: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    for i in range(n):
        tid = f"{prefix}{i:06d}"
        cred = new_terminal_credential(tid)
        creds[tid] = cred.token
        rows.append(
            {
                "id": tid,
                "merchant_id": "M01",
                "model": "PX-5",
                "brand": "Acme",
                "firmware": "2.1.0",
                "acquirer_host": f"acq-{i % hosts}",
                "area": f"area-{i % areas}",
                "location": "",
                "credential_hash": cred.hash,
                "revoked": False,
                "created_at": T0,
            }
        )
    with eng.begin() as c:
        if (
            c.execute(
                select(func.count()).select_from(Merchant).where(Merchant.id == "M01")
            ).scalar()
            == 0
        ):
            c.execute(insert(Merchant).values(id="M01", name="bench", created_at=T0))
        for i in range(0, n, 5000):
            c.execute(insert(Terminal), rows[i : i + 5000])
    eng.dispose()
    return creds


# Each set of terminals registered gets its own time window, later than the previous ones:
# events arrive in time order in a live fleet, so each measurement appends to the time
# indexes like a live fleet does, instead of landing among the previous measurement's rows
# (which made every insert, raw ones included, several times slower as the run went on).
_WINDOWS: dict[str, datetime] = {}


def _ts(tid: str, seq: int) -> datetime:
    prefix = tid[:-6]  # _register: prefix + 6 digits
    base = _WINDOWS.setdefault(prefix, T0 + timedelta(days=len(_WINDOWS)))
    return base + timedelta(seconds=seq)


def _event(tid: str, seq: int) -> dict[str, Any]:
    return {
        "v": 1,
        "terminal_id": tid,
        "merchant_id": "M01",
        "seq": seq,
        "ts": _ts(tid, seq).isoformat(),
        # a transaction: an events row (a heartbeat only upserts the terminal's liveness row)
        "kind": "transaction",
        "data": {"type": "sale", "outcome": "approved", "rc": "00", "amount": 1000 + seq},
    }


_ENGINES: dict[str, Any] = {}


def _count(url: str, prefix: str) -> int:
    eng = _ENGINES.get(url) or _ENGINES.setdefault(url, make_engine(url))
    with eng.connect() as c:
        n = c.execute(
            select(func.count())
            .select_from(EventRow)
            .where(EventRow.terminal_id.like(f"{prefix}%"))
        ).scalar()
    return int(n or 0)


# --- raw baseline ---------------------------------------------------------------------------


def _naive(ts: datetime) -> str:
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def _raw_insert(url: str, terminals: list[str], per_terminal: int) -> float:
    """DBAPI executemany of the same rows in batches of BATCH; returns rows/s."""
    rows: list[tuple[Any, ...]] = []
    now = datetime.now(UTC)
    for tid in terminals:
        for seq in range(per_terminal):
            ev = _event(tid, seq)
            rows.append(
                (
                    tid,
                    "M01",
                    seq,
                    _ts(tid, seq),
                    now,
                    "transaction",
                    None,
                    json.dumps(ev["data"]),
                    slot_of(tid),
                )
            )
    eng = make_engine(url)
    sql = INSERT_SQL[eng.dialect.name]
    if eng.dialect.name == "sqlite":
        rows = [
            (a, b, c, _naive(d), _naive(e), f, g, h, i)
            for a, b, c, d, e, f, g, h, i in rows
        ]  # fmt: skip
    raw = eng.raw_connection()
    t = time.perf_counter()
    try:
        cur = raw.cursor()
        for i in range(0, len(rows), BATCH):
            cur.executemany(sql, rows[i : i + BATCH])
            raw.commit()
    finally:
        raw.close()
    elapsed = time.perf_counter() - t
    eng.dispose()
    return len(rows) / elapsed


def _raw_batched(url: str, terminals: list[str], per_terminal: int) -> float:
    """The statements ingest itself uses, fed prepared rows: SQLite multi-row VALUES ..
    RETURNING; PostgreSQL COPY into the temp table + INSERT .. SELECT .. RETURNING."""
    now = datetime.now(UTC)
    rows = [
        (tid, "M01", seq, _ts(tid, seq), "transaction", None,
         json.dumps(_event(tid, seq)["data"]))
        for tid in terminals
        for seq in range(per_terminal)
    ]  # fmt: skip
    eng = make_engine(url)
    sessions = make_sessionmaker(eng)
    t = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        with sessions.begin() as s:
            insert_event_rows(s, rows=rows[i : i + BATCH], received_at=now)
    elapsed = time.perf_counter() - t
    eng.dispose()
    return len(rows) / elapsed


def _prefill(url: str, terminals: int, per_terminal: int) -> None:
    """A fleet database that has been running: ``terminals`` × ``per_terminal`` stored events
    (heartbeats and some faults, a minute apart, all older than the events measured after it,
    as in a live fleet), written with the ingest statement in batches of 5,000."""
    ids = list(_register(url, terminals, prefix="PF", hosts=50, areas=200))
    now = datetime.now(UTC)
    eng = make_engine(url)
    sessions = make_sessionmaker(eng)
    rows: list[Any] = []
    for seq in range(per_terminal):
        for k, tid in enumerate(ids):
            fault = (seq + k) % 50 == 0
            rows.append(
                (tid, "M01", seq, T0 - timedelta(minutes=per_terminal - seq, seconds=k % 60),
                 "fault" if fault else "transaction", "PRN.PAPER_OUT" if fault else None,
                 json.dumps({"uptime_s": seq * 60, "interval_s": 60}))
            )  # fmt: skip
            if len(rows) == 5000:
                with sessions.begin() as s:
                    insert_event_rows(s, rows=rows, received_at=now)
                rows = []
    if rows:
        with sessions.begin() as s:
            insert_event_rows(s, rows=rows, received_at=now)
    eng.dispose()


def _store_in_process(url: str, terminals: list[str], per_terminal: int) -> float:
    """EventStore.store_batch_json on the same bodies HTTP gets, no HTTP."""
    eng = make_engine(url)
    store = EventStore(make_sessionmaker(eng), catalog=default_catalog(), clock=SystemClock())
    bodies = [
        (tid, json.dumps({"events": [
            _event(tid, s) for s in range(start, min(per_terminal, start + BATCH))
        ]}).encode())
        for tid in terminals
        for start in range(0, per_terminal, BATCH)
    ]  # fmt: skip
    t = time.perf_counter()
    for tid, body in bodies:
        results = store.store_batch_json(body, transport="bench", credential_terminal=tid)
        assert all(r.outcome.value == "stored" for r in results)
    elapsed = time.perf_counter() - t
    eng.dispose()
    return len(terminals) * per_terminal / elapsed


# --- HTTP ingest ----------------------------------------------------------------------------


def _serve(url: str, sock: socket.socket) -> None:
    import uvicorn

    from posguard.fleet.api.app import create_app

    settings = FleetSettings(
        database_url=url, jwt_secret="bench-" + "x" * 32, diagnosis_in_process=False
    )
    app = create_app(settings)

    @app.post("/bench/noop")
    async def noop(request: Request, terminal: TerminalAuth) -> JSONResponse:
        """The HTTP floor: same request, credential check and body read; no parsing, nothing
        stored (it counts the events by their "seq" keys)."""
        body = await request.body()
        return JSONResponse({"stored": body.count(b'"seq"'), "terminal": terminal.id})

    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


SERVER_CPU_US = [0.0]  # the last HTTP run's server CPU per event, all server processes


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (all their threads), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def _http_ingest(
    url: str,
    creds: dict[str, str],
    per_terminal: int,
    clients: int = 4,
    path: str = "",
    servers: int = 1,
) -> float:
    # the sockets `posguard fleet serve --workers N` listens on: one per server process
    # (SO_REUSEPORT, so the kernel spreads connections), bound with IPPROTO_TCP so asyncio
    # sets TCP_NODELAY (without it every response waited ~40 ms for a delayed ACK)
    socks = listening_sockets("127.0.0.1", 0, servers)
    port = socks[0].getsockname()[1]
    procs = [
        mp.get_context("fork").Process(target=_serve, args=(url, sock), daemon=True)
        for sock in socks
    ]
    for proc in procs:
        proc.start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        bodies: list[tuple[str, bytes]] = []
        for tid, token in creds.items():
            for start in range(0, per_terminal, BATCH):
                evs = [_event(tid, s) for s in range(start, min(per_terminal, start + BATCH))]
                bodies.append((token, json.dumps({"events": evs}).encode()))
        total = len(creds) * per_terminal
        errors: list[str] = []

        # each client takes the next body when its previous answer is in (a fleet's terminals
        # post when they have something, not in fixed shares per connection): a server process
        # that holds fewer connections then does not idle while another has a backlog
        pending: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        for item in bodies:
            pending.put(item)

        def worker() -> None:
            with httpx.Client(base_url=base, timeout=60) as client:
                while True:
                    try:
                        token, body = pending.get_nowait()
                    except queue.Empty:
                        return
                    r = client.post(
                        path or "/api/v1/ingest/batch",
                        content=body,
                        headers={
                            "Authorization": f"Bearer {token}",
                            "Content-Type": "application/json",
                        },
                    )
                    if r.status_code != 200 or r.json()["stored"] != body.count(b'"seq"'):
                        errors.append(r.text[:200])

        threads = [threading.Thread(target=worker) for _ in range(clients)]
        cpu0 = _cpu_seconds([p.pid for p in procs if p.pid is not None])
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        cpu = _cpu_seconds([p.pid for p in procs if p.pid is not None]) - cpu0
        SERVER_CPU_US[0] = cpu / len(bodies) / BATCH * 1e6
        if errors:
            raise RuntimeError(f"HTTP ingest failed: {errors[:3]}")
        prefix = next(iter(creds))[:-6]  # _register: prefix + 6 digits
        assert _count(url, prefix) == (0 if path else total)
        return total / elapsed
    finally:
        for proc in procs:
            proc.terminate()
            proc.join(10)
        for sock in socks:
            sock.close()


# --- MQTT ingest ----------------------------------------------------------------------------


def _mqtt_worker(url: str, root: str, group: str, ready: Any, stop_flag: Any, stored: Any) -> None:
    from posguard.fleet.ingest.mqtt_worker import MqttIngestWorker

    eng = make_engine(url)
    store = EventStore(make_sessionmaker(eng), catalog=default_catalog(), clock=SystemClock())
    worker = MqttIngestWorker(
        store, host=MQTT[0], port=MQTT[1], topic_root=root, share_group=group, batch_max=BATCH
    )

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await worker.subscribed.wait()
        ready.set()
        while not stop_flag.is_set():
            stored.value = worker.stats.stored  # the publisher's flow control reads this
            await asyncio.sleep(0.005)
        stop.set()
        await task

    asyncio.run(main())


def _mqtt_publisher(
    payloads: list[tuple[str, bytes]], stored: Any, go: Any, per_message: int = 1
) -> None:
    """Publish at QoS 1 from its own process with paho's threaded client (≈9,400 messages/s
    alone here, ≈3× aiomqtt's per-publish futures, so the publisher is not what is measured)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    # flow control: stay at most LAG messages ahead of what is stored, as a terminal fleet with
    # acknowledged delivery would; Mosquitto drops QoS 1 messages queued beyond
    # max_queued_messages (1000 by default) for a subscriber that falls behind
    lag, chunk = 800, 100
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(chunk)
    client.max_queued_messages_set(0)
    client.connect(*MQTT)
    client.loop_start()
    try:
        go.wait(20)
        infos: list[Any] = []
        for i in range(0, len(payloads), chunk):
            while i + chunk - stored.value // per_message > lag:
                time.sleep(0.001)
            infos.extend(client.publish(t, p, qos=1) for t, p in payloads[i : i + chunk])
        for info in infos[-chunk:]:
            info.wait_for_publish(30)
    finally:
        client.loop_stop()
        client.disconnect()


def _mqtt_ingest(
    url: str, terminals: list[str], per_terminal: int, workers: int = 1, per_message: int = 1
) -> float:
    """Events/s from the first publish until every event is stored; the publisher and each
    worker run in their own processes. ``per_message``: events per MQTT message (a terminal's
    agent sends what its outbox holds, up to 100, as one JSON array)."""
    root = f"bench-{uuid.uuid4().hex[:8]}/v1"
    group = f"g{uuid.uuid4().hex[:8]}"
    ctx = mp.get_context("fork")
    stop_flag, go = ctx.Event(), ctx.Event()
    counters = [ctx.Value("q", 0, lock=False) for _ in range(workers)]
    readies = [ctx.Event() for _ in range(workers)]
    procs = [
        ctx.Process(target=_mqtt_worker, args=(url, root, group, r, stop_flag, c), daemon=True)
        for r, c in zip(readies, counters, strict=True)
    ]
    for p in procs:
        p.start()
    for r in readies:
        r.wait(20)
    total = len(terminals) * per_terminal
    prefix = terminals[0][:-6]
    payloads = [
        (
            f"{root}/M01/{tid}/events",
            json.dumps(
                _event(tid, s)
                if per_message == 1
                else [_event(tid, x) for x in range(s, min(per_terminal, s + per_message))]
            ).encode(),
        )
        for s in range(0, per_terminal, per_message)
        for tid in terminals
    ]

    class _Sum:
        @property
        def value(self) -> int:
            return sum(c.value for c in counters)

    publisher = ctx.Process(
        target=_mqtt_publisher, args=(payloads, _Sum(), go, per_message), daemon=True
    )
    publisher.start()
    try:
        time.sleep(0.5)  # the publisher connects before the clock starts
        t = time.perf_counter()
        go.set()
        deadline = t + 120
        while sum(c.value for c in counters) < total:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"MQTT ingest stored {_count(url, prefix)} of {total}")
            time.sleep(0.002)
        elapsed = time.perf_counter() - t
        assert _count(url, prefix) == total
        return total / elapsed
    finally:
        stop_flag.set()
        for p in [publisher, *procs]:
            p.join(10)
            if p.is_alive():
                p.terminate()


def _ingest(kind: str, quick: bool, prefill: int = 0) -> list[Result]:
    """Each row is paired with a raw executemany of as many fresh rows measured just before
    it: the events table grows by every row measured, and an insert into a bigger table is
    slower (here up to 2× from the first row to the last), so each row is compared with the
    baseline at its own table size."""
    per = 2000 if quick else 5000
    mper = per if not quick else per // 2
    n_terms = 4 if quick else 10
    n = n_terms * per
    out: list[Result] = []
    state = f"{prefill:,} events stored before" if prefill else "empty database"
    with _database(kind) as url:
        if prefill:
            _prefill(url, 10_000, prefill // 10_000)
        fresh = (f"P{i:02d}" for i in itertools.count())

        def paired(measure: Any) -> tuple[float, float]:
            """(ours, raw executemany measured just before on fresh terminals)."""
            raw = _raw_insert(url, list(_register(url, n_terms, prefix=next(fresh))), per)
            return measure(_register(url, n_terms, prefix=next(fresh))), raw

        def row(name: str, pair: tuple[float, float], note: str, target: bool = True) -> Result:
            return Result(f"{name} [{state}]", pair[0], "events/s", pair[1],
                          "raw executemany just before",
                          target="≥ 0.5× raw" if target else "", note=note)  # fmt: skip

        batched = paired(lambda ids: _raw_batched(url, list(ids), per))
        out.append(
            Result(
                f"raw batched statement -> {kind} [{state}]",
                batched[0],
                "rows/s",
                batched[1],
                "raw executemany just before",
                note="insert_event_rows on the same rows (its parameter prep, no validation)",
            )
        )
        store = paired(lambda ids: _store_in_process(url, list(ids), per))
        out.append(row(f"EventStore.store_batch_json, no HTTP -> {kind}", store,
                       f"{n} events, 500/batch", target=False))  # fmt: skip
        http = paired(lambda ids: _http_ingest(url, ids, per))
        out.append(
            row(
                f"HTTP batch ingest, 1 process -> {kind}",
                http,
                f"{n} events, batches of {BATCH}, 4 clients; server "
                f"{SERVER_CPU_US[0]:.1f} µs CPU/event",
            )
        )
        http2 = paired(lambda ids: _http_ingest(url, ids, per, clients=8, servers=2))
        out.append(
            row(
                f"HTTP batch ingest, 2 processes (serve --workers 2) -> {kind}",
                http2,
                f"{n} events, 8 clients; servers {SERVER_CPU_US[0]:.1f} µs CPU/event",
            )
        )
        floor = paired(lambda ids: _http_ingest(url, ids, per, path="/bench/noop"))
        out.append(
            row(
                f"HTTP floor (auth + body read, no parsing, no store) -> {kind}",
                floor,
                "same requests to a bench-only route that counts and answers",
                target=False,
            )
        )
        if _reachable(*MQTT):
            for workers, per_message in ((1, 1), (1, 100), (2, 100)):
                pair = paired(
                    lambda ids, w=workers, m=per_message: _mqtt_ingest(
                        url, list(ids), mper, workers=w, per_message=m
                    )
                )
                out.append(
                    row(
                        f"MQTT ingest, {workers} worker{'s' if workers > 1 else ''}, "
                        f"{per_message} event{'s' if per_message > 1 else ''}/message -> {kind}",
                        pair,
                        f"{n_terms * mper} events, QoS 1, paho publisher in its own process",
                    )
                )
    return out


# --- fault-to-incident latency ---------------------------------------------------------------


def _latency(quick: bool) -> list[Result]:
    n = 10_000
    faults = 100 if quick else 300
    with _database("sqlite") as url:
        _register(url, n, prefix="LT", hosts=10, areas=50)
        eng = make_engine(url)
        sessions = make_sessionmaker(eng)
        catalog = default_catalog()
        clock = SystemClock()
        store = EventStore(sessions, catalog=catalog, clock=clock)
        diag = DiagnosisService(
            sessions, rules=load_rules(catalog=catalog), catalog=catalog, clock=clock
        )
        sent: dict[str, float] = {}
        seen: dict[str, float] = {}
        stop = threading.Event()

        def diagnose() -> None:
            diag.start()
            while not stop.is_set():
                applied = diag.step()
                if applied.opened:
                    with sessions() as s:
                        for tid in s.scalars(
                            select(Incident.terminal_id).where(Incident.id.in_(applied.opened))
                        ):
                            if tid is not None and tid in sent and tid not in seen:
                                seen[tid] = time.perf_counter()
                else:
                    stop.wait(0.2)  # the default diagnosis_poll_s

        th = threading.Thread(target=diagnose)
        th.start()
        seq = 0
        # every terminal heartbeats each 60 s: 10,000 terminals = ~167 heartbeats/s; sent in
        # 100 ms slices, with one PRN.PAPER_OUT fault from a random terminal per slice
        ids = [f"LT{i:06d}" for i in range(n)]
        per_slice = n // 600
        t_end = time.perf_counter() + 600
        k = 0
        while len(sent) < faults and time.perf_counter() < t_end:
            slice_start = time.perf_counter()
            now = datetime.now(UTC)
            batch = []
            for j in range(per_slice):
                tid = ids[(k * per_slice + j) % n]
                seq += 1
                batch.append(
                    {
                        **_event(tid, seq),
                        "ts": now.isoformat(),
                        "kind": "heartbeat",
                        "data": {"uptime_s": seq, "interval_s": 60},
                    }
                )
            fault_tid = ids[(k * 7919) % n]
            seq += 1
            batch.append(
                {
                    **_event(fault_tid, seq),
                    "ts": now.isoformat(),
                    "kind": "fault",
                    "code": "PRN.PAPER_OUT",
                    "data": {},
                }
            )
            sent.setdefault(fault_tid, time.perf_counter())
            store.store(batch, transport="bench")
            k += 1
            time.sleep(max(0.0, 0.1 - (time.perf_counter() - slice_start)))
        deadline = time.perf_counter() + 10
        while len(seen) < len(sent) and time.perf_counter() < deadline:
            time.sleep(0.05)
        stop.set()
        th.join()
        eng.dispose()
    lat = sorted((seen[t] - sent[t]) * 1000 for t in seen)
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    note = f"{len(lat)}/{len(sent)} faults, 10,000 terminals heartbeating, SQLite, poll 0.2 s"
    return [
        Result("fault-to-incident p50", p50, "ms", higher_is_better=False, note=note),
        Result("fault-to-incident p99", p99, "ms", higher_is_better=False, note=note),
    ]


# --- memory --------------------------------------------------------------------------------


def _memory(n: int) -> Result:
    catalog = default_catalog()
    rules = load_rules(catalog=catalog)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    directory = TerminalDirectory(
        (f"T{i:07d}", Placement(f"M{i % 5000}", f"acq-{i % 10}", f"area-{i % 500}"))
        for i in range(n)
    )
    engine = DiagnosisEngine(rules, catalog=catalog, clock=SystemClock(), directory=directory)
    now = datetime.now(UTC)
    for start in range(0, n, 5000):
        engine.observe(
            Observed(
                id=i + 1,
                terminal_id=f"T{i:07d}",
                merchant_id=f"M{i % 5000}",
                seq=1,
                ts=now,
                kind="heartbeat",
                data={"interval_s": 60},
            )
            for i in range(start, min(n, start + 5000))
        )
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return Result(
        f"diagnosis state, {n:,} terminals",
        used / 2**20,
        "MiB",
        higher_is_better=False,
        note=f"{used / n:.0f} B/terminal: directory + heartbeat timers (tracemalloc)",
    )


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _service_rss_child(url: str, n: int, out: Any) -> None:
    """In a fresh (spawned) process: the whole API app plus the diagnosis loop's state for n
    terminals."""
    from posguard.fleet.api.app import create_app

    settings = FleetSettings(database_url=url, jwt_secret="m" * 40, diagnosis_in_process=False)
    create_app(settings)
    eng = make_engine(url)
    sessions = make_sessionmaker(eng)
    catalog = default_catalog()
    diag = DiagnosisService(
        sessions, rules=load_rules(catalog=catalog), catalog=catalog, clock=SystemClock()
    )
    diag.start()
    idle = _rss_kib()
    now = datetime.now(UTC)
    for start in range(0, n, 5000):
        diag.engine.observe(
            Observed(id=i + 1, terminal_id=f"RS{i:06d}", merchant_id="M01", seq=1, ts=now,
                     kind="heartbeat", data={"interval_s": 60})
            for i in range(start, min(n, start + 5000))
        )  # fmt: skip
    out.send((idle, _rss_kib()))


def _service_rss(n: int) -> Result:
    with _database("sqlite") as url:
        _register(url, n, prefix="RS")
        # a fresh interpreter (spawn), not a fork of the bench: a forked child's RSS counts
        # every page of the parent's heap it still maps
        ctx = mp.get_context("spawn")
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_service_rss_child, args=(url, n, send))
        proc.start()
        idle, busy = recv.recv()
        proc.join(30)
    note = f"app + diagnosis, all heartbeating; {idle / 1024:.0f} MiB before the heartbeats"
    return Result(
        f"service RSS, {n:,} terminals", busy / 1024, "MiB", higher_is_better=False, note=note
    )


def _provision(kind: str, quick: bool) -> list[Result]:
    """``posguard fleet import``'s path (parse + apply + commit) for a CSV of N terminals of
    N/10 merchants, into an empty database and again (nothing changes); baseline: the
    one-at-a-time path (``add_terminal`` and a commit per terminal, what ``add-terminal`` and
    the API do), on 300 terminals of the same database."""
    from posguard.fleet.provision import apply, parse
    from posguard.fleet.repo.terminals import add_terminal

    n = 2_000 if quick else 10_000
    header = "id,merchant_id,merchant_name,model,brand,firmware,acquirer_host,area\n"
    body = "".join(
        f"P{i:07d},PM{i // 10:06d},Shop {i // 10},PX-5,Acme,2.1.0,acq-{i % 10},area-{i % 50}\n"
        for i in range(n)
    )
    data = (header + body).encode()
    out: list[Result] = []
    with _database(kind) as url:
        eng = make_engine(url)
        sessions = make_sessionmaker(eng)
        t = time.perf_counter()
        for i in range(300):
            with sessions.begin() as s:
                add_terminal(
                    s, terminal_id=f"B{i:07d}", merchant_id=f"BM{i // 10:05d}", model="PX-5",
                    brand="Acme", firmware="2.1.0", acquirer_host="acq-1", area="area-1", now=T0,
                )  # fmt: skip
        one_by_one = 300 / (time.perf_counter() - t)
        for label in ("new", "again, unchanged"):
            t = time.perf_counter()
            with sessions.begin() as s:
                report = apply(s, parse(data, name="fleet.csv"), now=T0)
            rate = n / (time.perf_counter() - t)
            assert not report.refused
            out.append(
                Result(
                    f"fleet import {n:,} terminals ({label}), {kind}",
                    rate,
                    "terminals/s",
                    baseline=one_by_one,
                    baseline_name="add_terminal, a commit each",
                    target=">= 1,000 terminals/s into PostgreSQL",
                    note=report.summary(),
                )
            )
        eng.dispose()
    return out


def _log(results: list[Result]) -> list[Result]:
    import sys

    for r in results:
        print(
            f"  {r.name}: {r.ours:,.1f} {r.unit} (baseline {r.baseline}) {r.note}", file=sys.stderr
        )
    return results


def run(quick: bool) -> list[Result]:
    results: list[Result] = []
    # ingest into an empty database, then into one that already holds a million events (a
    # fleet that has been running: the indexes are deep, new events append to them)
    prefill = 100_000 if quick else 1_000_000
    kinds = ["sqlite", *(["postgresql"] if _reachable("127.0.0.1", 5432) else [])]
    for kind in kinds:
        for stored in (0, prefill):
            results.extend(_log(_ingest(kind, quick, prefill=stored)))
    results.extend(_log(_latency(quick)))
    for kind in kinds:
        results.extend(_log(_provision(kind, quick)))
    results.extend(_log([_memory(10_000), _memory(100_000)]))
    results.extend(_log([_service_rss(10_000), _service_rss(100_000)]))
    from bench import bench_fleet_scale  # the whole pipeline at scale (also its own topic)

    results.extend(_log(bench_fleet_scale.run(quick)))
    for eng in _ENGINES.values():
        eng.dispose()
    _ENGINES.clear()
    return results
