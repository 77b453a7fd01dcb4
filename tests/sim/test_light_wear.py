"""The light fleet's heartbeats carry the wear model's counters (``data.wear``,
docs/events.md), and the fleet's prediction reads them: a light terminal whose printer wears
out is on the visit list before the printer fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from posguard.catalog import default_catalog
from posguard.common.events import WEAR_COUNTERS, parse_event, wear_of
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.db.models import Terminal
from posguard.fleet.ingest.store import EventStore, Outcome
from posguard.fleet.prediction.visit_list import predict
from posguard.sim.light import LightFleet
from posguard.sim.network_history import register_estate
from posguard.sim.population import build_estate
from posguard.sim.timeline import parse_timeline

START = datetime(2026, 10, 1, 0, 30, tzinfo=UTC)


def _days(n: int) -> Any:
    return parse_timeline({"name": "days", "duration": n * 86_400})


def test_heartbeats_carry_rising_valid_wear_counters_and_nothing_else_changes() -> None:
    estate = build_estate(terminals=40, seed=8)
    story = _days(3)
    with_wear: list[dict[str, Any]] = []
    LightFleet(estate, story, heartbeat_interval=1800, seed=8, start=START).run(
        with_wear.extend, tick=600
    )
    last: dict[str, dict[str, int]] = {}
    beats = 0
    for raw in with_wear:
        if raw["kind"] != "heartbeat":
            continue
        wear = wear_of(parse_event(raw).data)
        assert wear is not None, raw
        counters = wear.model_dump(exclude_none=True)
        assert set(counters) == set(WEAR_COUNTERS)
        before = last.get(raw["terminal_id"])
        if before is not None:
            assert all(counters[k] >= before[k] for k in counters)
        last[raw["terminal_id"]] = counters
        beats += 1
    assert beats == 40 * 3 * 48
    grew = [c["printer_lines"] for c in last.values()]
    assert min(grew) > 0

    # the wear model has its own random generator: without it the stream is the same, less
    # the heartbeats' counters
    without: list[dict[str, Any]] = []
    LightFleet(estate, story, heartbeat_interval=1800, seed=8, start=START, wear=False).run(
        without.extend, tick=600
    )
    strip = [{**e, "data": {k: v for k, v in e["data"].items() if k != "wear"}} for e in with_wear]
    assert strip == without


def test_a_light_terminal_with_a_wearing_printer_is_flagged_before_it_fails(
    tmp_path: Path,
) -> None:
    estate = build_estate(terminals=12, seed=3)
    fleet = LightFleet(
        estate,
        _days(40),
        heartbeat_interval=3600,
        txn_per_hour=0.5,
        seed=3,
        start=START,
    )
    assert fleet.wear is not None
    worn = np.array([0])
    fleet.wear.wear_out("printer", worn, days=33.0, window=12.0)  # fails on day 33
    engine = make_engine(f"sqlite:///{tmp_path / 'fleet.db'}")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    register_estate(sessions, estate, now=START - timedelta(days=1))
    store = EventStore(sessions, catalog=default_catalog(), clock=FakeClock(START))

    def play(until_day: int, t: float) -> float:
        while t < until_day * 86_400:
            batch = fleet.step(t, 3600)
            results = store.store(batch, transport="sim") if batch else []
            assert all(r.outcome is Outcome.STORED for r in results)
            t += 3600
        return t

    tid = estate.terminals[0].terminal_id
    t = play(20, 0.0)  # three weeks of history, the printer still healthy
    with sessions() as s:
        (early,) = predict(s, terminals=[s.get(Terminal, tid)], now=START + timedelta(days=20))
    assert early.risk is not None
    assert not early.due, early.risk

    flagged: datetime | None = None
    day = 20
    while flagged is None and day < 40:
        day += 1
        t = play(day, t)
        now = START + timedelta(seconds=t)
        with sessions() as s:
            (p,) = predict(s, terminals=[s.get(Terminal, tid)], now=now)
        if p.due:
            assert p.risk is not None
            assert p.risk.component == "printer"
            assert any("cutter jams" in r.text.en for r in p.reasons), p.reasons
            flagged = now
    t = play(40, t)
    (failed,) = fleet.wear.failed_at(0, "printer")
    assert flagged is not None
    assert failed - flagged >= timedelta(hours=24), (flagged, failed)
    engine.dispose()


def test_a_muted_terminal_sends_no_wear_and_the_others_still_do() -> None:
    """The demo's wearing-printer story sends its own counters for one light terminal: the
    light fleet must not send a second set for it (two cumulative series read as resets)."""
    estate = build_estate(terminals=10, seed=4)
    fleet = LightFleet(estate, _days(1), heartbeat_interval=1800, seed=4, start=START)
    assert fleet.wear is not None
    fleet.wear.mute(np.array([3]))
    events: list[dict[str, Any]] = []
    fleet.run(events.extend, tick=600)
    beats = [e for e in events if e["kind"] == "heartbeat"]
    muted = estate.terminals[3].terminal_id
    assert all(("wear" in e["data"]) == (e["terminal_id"] != muted) for e in beats)
    assert sum(e["terminal_id"] == muted for e in beats) == 48
