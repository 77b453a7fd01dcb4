"""The fleet pipeline at scale, in one run (issue #15, docs/scaling.md): a light fleet
(``posguard.sim.light``) playing the default 60-second fault story in real time, published over
MQTT (one message per terminal per tick, its events as one array) → 2 ingest worker processes
on one shared subscription → PostgreSQL (day partitions, heartbeats upserting liveness) →
2 diagnoser shard processes + 1 correlator process.

Figures:

1. fault → incident latency, p50 / p99: ``detected_at - opened_at`` of every incident a
   simple, repeating or correlation rule opened during the story (both wall clock: the story's
   event times are the wall clock as it is played; duration and absence rules open on purpose
   a fixed time after their event and are left out);
2. the rate the light fleet generates (story average and its worst second);
3. the sustained rate the pipeline keeps up with: the story's events published again as fast as
   flow control lets them (at most ``LAG`` messages ahead of what the workers have stored), timed
   until every one is stored and both shards' cursors have passed the last row.

Terminal count: ``POSGUARD_BENCH_FLEET_TERMINALS`` (default 100,000; ``--quick``: 5,000). The
machine is shared: the note of each figure says the scale and ``os.getloadavg()``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text

from bench._result import Result
from bench.bench_fleet import MQTT, _database, _reachable
from posguard.catalog import default_catalog
from posguard.fleet.clock import SystemClock
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.models import (
    DiagnosisState,
    EventRow,
    Incident,
    IncidentEvent,
    Merchant,
    Terminal,
)
from posguard.fleet.diagnosis.rules import RuleKind, load_rules
from posguard.fleet.diagnosis.service import DiagnosisService
from posguard.fleet.diagnosis.shard import ShardRole
from posguard.fleet.security import new_terminal_credential
from posguard.sim.light import EventDict, LightFleet
from posguard.sim.population import Estate, build_estate
from posguard.sim.timeline import load_timeline

SHARDS = 2
WORKERS = 2
LAG = 800  # messages the publisher may be ahead of what is settled (Mosquitto queues 1,000)
LATENCY_KINDS = {RuleKind.SIMPLE, RuleKind.REPEATING, RuleKind.CORRELATION}


def _terminals(quick: bool) -> int:
    return int(os.environ.get("POSGUARD_BENCH_FLEET_TERMINALS", "5000" if quick else "100000"))


def _register(url: str, estate: Estate) -> None:
    eng = make_engine(url)
    now = datetime.now(UTC)
    cred = new_terminal_credential("bench")  # one hash for all: nothing here authenticates
    rows = [
        {
            "id": t.terminal_id, "merchant_id": t.merchant_id, "model": t.model,
            "brand": t.brand, "firmware": t.firmware, "acquirer_host": t.host, "area": t.area,
            "location": "", "credential_hash": cred.hash, "revoked": False, "created_at": now,
        }
        for t in estate.terminals
    ]  # fmt: skip
    with eng.begin() as c:
        c.execute(
            insert(Merchant),
            [{"id": m.merchant_id, "name": m.name, "created_at": now} for m in estate.merchants],
        )
        for i in range(0, len(rows), 5000):
            c.execute(insert(Terminal), rows[i : i + 5000])
    eng.dispose()


def _messages(root: str, events: list[EventDict]) -> list[tuple[str, bytes]]:
    """One message per terminal: its events of the tick as one array (the agent's drain)."""
    per: dict[tuple[str, str], list[EventDict]] = defaultdict(list)
    for e in events:
        per[(e["merchant_id"], e["terminal_id"])].append(e)
    return [
        (f"{root}/{mid}/{tid}/events", json.dumps(evs).encode()) for (mid, tid), evs in per.items()
    ]


def _worker(
    url: str, root: str, group: str, ready: Any, stop_flag: Any, settled: Any, cpu: Any
) -> None:
    """An MQTT ingest worker; ``settled``: [its events stored, found stored already (a heartbeat
    no newer than the liveness row) or refused; the messages of its stored batches]; ``cpu``:
    [the CPU seconds it used, set when it stops]."""
    import asyncio

    from posguard.fleet.ingest.mqtt_worker import MqttIngestWorker
    from posguard.fleet.ingest.store import EventStore

    eng = make_engine(url)
    store = EventStore(make_sessionmaker(eng), catalog=default_catalog(), clock=SystemClock())
    worker = MqttIngestWorker(
        store, host=MQTT[0], port=MQTT[1], topic_root=root, share_group=group, batch_max=500
    )

    handle, handled = worker.batches.handle, [0]

    def counted(batch: list[Any]) -> Any:
        done = handle(batch)
        if done is not None:
            handled[0] += len(batch)
        return done

    worker.batches.handle = counted  # type: ignore[method-assign]

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await worker.subscribed.wait()
        ready.set()
        while not stop_flag.is_set():
            st = worker.stats
            settled[0] = st.stored + st.duplicate + st.malformed
            settled[1] = handled[0]
            await asyncio.sleep(0.005)
        stop.set()
        await task

    asyncio.run(main())
    cpu[0] = time.process_time()


def _diagnoser(
    url: str, role: tuple[int, int] | None, ready: Any, stop_flag: Any, cpu: Any
) -> None:
    """A shard (K, N) or the correlator (None), stepping every 0.2 s as `fleet diagnose` does;
    ``cpu``: [the CPU seconds it used, set when it stops]."""
    eng = make_engine(url)
    catalog = default_catalog()
    diag = DiagnosisService(
        make_sessionmaker(eng),
        rules=load_rules(catalog=catalog),
        catalog=catalog,
        clock=SystemClock(),
        role=ShardRole.correlator() if role is None else ShardRole.parse(*role),
    )
    diag.start()
    ready.set()
    while not stop_flag.is_set():
        applied = diag.step()
        if not applied.opened and not applied.extended:
            stop_flag.wait(0.2)
    eng.dispose()
    cpu[0] = time.process_time()


def _publish(
    root: str, fleet_args: tuple[Estate, float], stored: Any, go: Any, out: Any, flood: bool
) -> None:
    """Play the story: in real time (``flood`` False), or every tick at once; both with flow
    control on settled messages (``stored`` counts messages here). ``out``: [events, messages,
    worst lag behind real time in ms, its CPU seconds] for the parent. Publishes with
    :mod:`bench.mqtt_blast`, not paho: the load should not take the pipeline's CPU."""
    from bench.mqtt_blast import BlastPublisher

    estate, shift = fleet_args
    timeline = load_timeline()
    fleet = LightFleet(estate, timeline, seed=1)
    if flood:  # new keys: the seq numbers go on after the story's
        fleet.seq += 1_000_000
    client = BlastPublisher(*MQTT)
    go.wait(60)
    fleet.start = datetime.now(UTC) + timedelta(seconds=shift)  # event times: the wall clock
    t0, base, events, worst = time.perf_counter(), stored.value, 0, 0.0  # as settled

    def room() -> int:
        # flow control, as the agents' limit of unconfirmed events: beyond the broker's queue
        # per session, messages would be dropped (and resent by real terminals)
        return int(LAG - (base + client.sent - stored.value))

    try:
        t = 0.0
        while t < timeline.duration:
            batch = fleet.step(t, 1.0)
            events += len(batch)
            client.publish(_messages(root, batch), room)
            t += 1.0
            behind = time.perf_counter() - (t0 + t)
            worst = max(worst, behind)
            if not flood and behind < 0:
                time.sleep(-behind)
        out[0], out[1], out[2] = events, client.sent, worst * 1000
    finally:
        client.close()  # every message PUBACKed by the broker before disconnecting
    out[3] = time.process_time()


def _caught_up(url: str, last_id: int) -> bool:
    eng = make_engine(url)
    with eng.connect() as c:
        cursors = c.execute(
            select(DiagnosisState.cursor).where(DiagnosisState.shard.like(f"%/{SHARDS}"))
        ).scalars()
        done = [x >= last_id for x in cursors]
    eng.dispose()
    return len(done) == SHARDS and all(done)


def _phase(
    url: str, estate: Estate, root: str, counters: list[Any], *, flood: bool
) -> dict[str, float]:
    ctx = mp.get_context("fork")
    go, out = ctx.Event(), ctx.Array("d", 4)

    class _Settled:  # messages whose batch the workers have stored (the flow control's unit)
        @property
        def value(self) -> int:
            return int(sum(c[1] for c in counters))

        @property
        def events(self) -> int:
            return int(sum(c[0] for c in counters))

    before, before_events = _Settled().value, _Settled().events
    pub = ctx.Process(
        target=_publish, args=(root, (estate, 70.0 if flood else 0.0), _Settled(), go, out, flood)
    )
    pub.start()
    time.sleep(1.0)
    t = time.perf_counter()
    go.set()
    pub.join(900)
    events, messages = int(out[0]), int(out[1])
    deadline = time.perf_counter() + 120
    while _Settled().value - before < messages and time.perf_counter() < deadline:
        time.sleep(0.01)
    if _Settled().value - before < messages:
        print(
            f"bench fleet_scale: {_Settled().value - before} of {messages} messages settled",
            file=sys.stderr,
        )
    stored_s = time.perf_counter() - t
    eng = make_engine(url)
    with eng.connect() as c:
        last_id = int(c.scalar(select(func.max(EventRow.id))) or 0)
    eng.dispose()
    while not _caught_up(url, last_id) and time.perf_counter() < deadline:
        time.sleep(0.05)
    diagnosed_s = time.perf_counter() - t
    return {
        "events": events, "messages": messages, "settled": _Settled().events - before_events,
        "stored_s": stored_s, "diagnosed_s": diagnosed_s, "publisher_behind_ms": out[2],
        "publisher_cpu_s": out[3],
    }  # fmt: skip


def _per_rule(rows: list[Any], rules: dict[str, RuleKind]) -> str:
    """p50/p99 ms per timed rule: which bursts are late."""
    by: dict[str, list[float]] = defaultdict(list)
    for rule_id, opened, detected in rows:
        if detected is not None and rules.get(rule_id) in LATENCY_KINDS:
            by[rule_id].append((detected - opened).total_seconds() * 1000)
    parts = []
    for rule_id, lat in sorted(by.items()):
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        parts.append(f"{rule_id} {statistics.median(lat):,.0f}/{p99:,.0f}")
    return "p50/p99 ms by rule: " + ", ".join(parts)


def _split(url: str, since: datetime, rules: dict[str, RuleKind]) -> str:
    """Where the time of a terminal's incident went: fault → its first evidence event stored
    (publisher, broker, ingest) and stored → incident (the shard), p50/p99 ms each."""
    timed = [r for r, kind in rules.items() if kind in LATENCY_KINDS]
    first = (
        select(IncidentEvent.incident_id, func.min(EventRow.received_at).label("stored"))
        .join(EventRow, EventRow.id == IncidentEvent.event_id)
        .group_by(IncidentEvent.incident_id)
        .subquery()
    )
    eng = make_engine(url)
    with eng.connect() as c:
        rows = c.execute(
            select(Incident.opened_at, first.c.stored, Incident.detected_at)
            .join(first, first.c.incident_id == Incident.id)
            .where(
                Incident.opened_at >= since,
                Incident.detected_at.is_not(None),
                Incident.terminal_id.is_not(None),
                Incident.rule_id.in_(timed),
            )
        ).all()
    if not rows:
        eng.dispose()
        return "no terminal incident to split"

    def p(xs: list[float]) -> str:
        xs.sort()
        return f"{statistics.median(xs):,.0f}/{xs[min(len(xs) - 1, int(len(xs) * 0.99))]:,.0f}"

    with eng.connect() as c:  # every event of the story, incident or not: a fixed set
        waits = c.execute(
            select(EventRow.received_at, EventRow.ts).where(
                EventRow.ts >= since, EventRow.ts < since + timedelta(seconds=70)
            )
        ).all()
        every = [(r - t).total_seconds() * 1000 for r, t in waits]
    eng.dispose()
    to_store = [(s - o).total_seconds() * 1000 for o, s, _ in rows]
    to_incident = [(d - s).total_seconds() * 1000 for _, s, d in rows]
    return (
        f"{len(rows):,} terminal incidents: fault → stored {p(to_store)} ms, "
        f"stored → incident {p(to_incident)} ms; all {len(every):,} events rows of the story: "
        f"fault → stored {p(every)} ms (p50/p99; a terminal whose fault came in while its group "
        "incident was open joins that incident and opens none of its own: not timed above)"
    )


def _latencies(url: str, since: datetime) -> tuple[list[float], dict[str, int]]:
    rules = {r.id: r.kind for r in load_rules(catalog=default_catalog())}
    eng = make_engine(url)
    with eng.connect() as c:
        rows = c.execute(
            select(Incident.rule_id, Incident.opened_at, Incident.detected_at).where(
                Incident.detected_at.is_not(None), Incident.opened_at >= since
            )
        ).all()
    eng.dispose()
    by_rule: dict[str, int] = defaultdict(int)
    print(f"bench fleet_scale: {_per_rule(list(rows), rules)}", file=sys.stderr)
    print(f"bench fleet_scale: {_split(url, since, rules)}", file=sys.stderr)
    lat = []
    for rule_id, opened, detected in rows:
        by_rule[rule_id] += 1
        if detected is not None and rules.get(rule_id) in LATENCY_KINDS:
            lat.append((detected - opened).total_seconds() * 1000)
    return sorted(lat), dict(by_rule)


def run(quick: bool) -> list[Result]:
    if not (_reachable("127.0.0.1", 5432) and _reachable(*MQTT)):
        return []
    n = _terminals(quick)
    estate = build_estate(terminals=n, seed=1)
    ctx = mp.get_context("fork")
    with _database("postgresql") as url:
        _register(url, estate)
        root, group = f"bench-{uuid.uuid4().hex[:8]}/v1", f"g{uuid.uuid4().hex[:8]}"
        stop_flag = ctx.Event()
        counters = [ctx.Array("q", 2, lock=False) for _ in range(WORKERS)]
        readies = [ctx.Event() for _ in range(WORKERS + SHARDS + 1)]
        cpus = [ctx.Array("d", 1, lock=False) for _ in readies]
        procs = [
            ctx.Process(target=_worker, args=(url, root, group, r, stop_flag, c, u), daemon=True)
            for r, c, u in zip(readies, counters, cpus, strict=False)
        ]
        roles: list[tuple[int, int] | None] = [(k, SHARDS) for k in range(SHARDS)] + [None]
        procs += [
            ctx.Process(target=_diagnoser, args=(url, role, r, stop_flag, u), daemon=True)
            for role, r, u in zip(roles, readies[WORKERS:], cpus[WORKERS:], strict=True)
        ]
        for p in procs:
            p.start()
        for r in readies:
            r.wait(120)
        # the workers count stored events; heartbeats no newer than the liveness row count as
        # duplicates: both are settled
        since = datetime.now(UTC)
        load0 = os.getloadavg()[0]
        try:
            story = _phase(url, estate, root, counters, flood=False)
            time.sleep(3)  # the last incidents of the story
            lat, by_rule = _latencies(url, since - timedelta(seconds=5))
            flood = _phase(url, estate, root, counters, flood=True)
        finally:
            stop_flag.set()
            for p in procs:
                p.join(20)
                if p.is_alive():
                    p.terminate()
        with make_engine(url).connect() as c:
            rows = int(c.scalar(select(func.count()).select_from(EventRow)) or 0)
            live = int(c.scalar(text("SELECT count(*) FROM terminal_liveness")) or 0)
    load1 = os.getloadavg()[0]
    scale = f"{n:,} light terminals, {WORKERS} workers, {SHARDS} shards + correlator, PostgreSQL"
    load = f"load {load0:.1f}→{load1:.1f} on {os.cpu_count()} cores"
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    generated = story["events"] / 60.0
    sustained = flood["events"] / flood["diagnosed_s"]
    events_all = story["events"] + flood["events"]
    per = [c[0] * 1e6 / events_all if events_all else float("nan") for c in cpus]
    cpu_note = (
        f"CPU µs an event (story + flood, {events_all:,} events): ingest workers "
        f"{sum(per[:WORKERS]):.0f}, shards {sum(per[WORKERS:-1]):.0f}, correlator "
        f"{per[-1]:.0f} (PostgreSQL and Mosquitto not counted); the load's own publisher "
        f"{(story['publisher_cpu_s'] + flood['publisher_cpu_s']) * 1e6 / events_all:.0f}"
    )
    print(f"bench fleet_scale: {cpu_note}", file=sys.stderr)
    note = (
        f"{scale}; {len(lat)} incidents timed ({sorted(by_rule.items())}); "
        f"{rows:,} events rows, {live:,} liveness rows; {load}"
    )
    return [
        Result(
            "pipeline CPU a stored + diagnosed event",
            sum(per),
            "µs",
            higher_is_better=False,
            note=f"{cpu_note}; {scale}; {load}",
        ),
        Result("pipeline fault→incident p50", p50, "ms", higher_is_better=False, note=note),
        Result(
            "pipeline fault→incident p99",
            p99,
            "ms",
            target="<= 1000 ms",
            higher_is_better=False,
            note=note,
        ),
        Result(
            "pipeline sustained (stored + diagnosed)",
            sustained,
            "events/s",
            baseline=generated,
            baseline_name="light fleet story average",
            note=(
                f"{flood['events']:,} events in {flood['messages']:,} messages, stored in "
                f"{flood['stored_s']:.1f} s, diagnosed by both shards in "
                f"{flood['diagnosed_s']:.1f} s; story kept real time "
                f"(publisher at most {story['publisher_behind_ms']:.0f} ms behind, all "
                f"{story['settled']:,} of {story['events']:,} events settled in "
                f"{story['stored_s']:.1f} s of a 60 s story); "
                f"{scale}; {load}"
            ),
        ),
    ]
