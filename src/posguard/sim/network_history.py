"""Weeks of simulated network history written into a fleet database: the light fleet with its
network model (``posguard.sim.network_model``), played in coarse ticks and stored through the
fleet's own ingest (``EventStore``: validation, catalog check, idempotent insert), so the
network report has an estate's worth of heartbeats and transactions to read.

A replay stores nothing twice (same seed, same events, same ``(terminal_id, seq)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import Terminal
from posguard.fleet.ingest.store import EventStore, Outcome
from posguard.fleet.repo.terminals import add_terminal
from posguard.sim.light import EventDict, LightFleet
from posguard.sim.network_model import NetworkModel
from posguard.sim.population import Estate
from posguard.sim.timeline import parse_timeline

SLICE = 1000


@dataclass
class HistoryResult:
    network: NetworkModel
    events: int = 0
    stored: int = 0
    rejected: int = 0


def register_estate(sessions: sessionmaker[Session], estate: Estate, *, now: datetime) -> int:
    """Register the estate's terminals not yet in the fleet; returns how many were added."""
    with sessions.begin() as s:
        known = set(s.scalars(select(Terminal.id)))
        added = 0
        for t in estate.terminals:
            if t.terminal_id in known:
                continue
            add_terminal(
                s,
                terminal_id=t.terminal_id,
                merchant_id=t.merchant_id,
                merchant_name=estate.merchant(t.merchant_id).name,
                model=t.model,
                brand=t.brand,
                firmware=t.firmware,
                acquirer_host=t.host,
                area=t.area,
                now=now,
                install_date=t.install_date,
                warranty_end=t.warranty_end,
            )
            added += 1
    return added


def play_network_history(
    sessions: sessionmaker[Session],
    estate: Estate,
    *,
    until: datetime,
    weeks: int = 4,
    seed: int = 1,
    txn_per_hour: float = 4.0,
    heartbeat_s: float = 3600.0,
    tick_s: float = 600.0,
) -> HistoryResult:
    """Register the estate and store ``weeks`` weeks of its traffic, ending at ``until``."""
    start = until - timedelta(days=7 * weeks)
    register_estate(sessions, estate, now=start)
    network = NetworkModel.for_estate(estate, seed=seed)
    timeline = parse_timeline({"name": "network-history", "duration": weeks * 7 * 86_400})
    fleet = LightFleet(
        estate,
        timeline,
        heartbeat_interval=heartbeat_s,
        txn_per_hour=txn_per_hour,
        seed=seed,
        start=start,
        network=network,
    )
    store = EventStore(sessions, catalog=default_catalog(), clock=FakeClock(until))
    out = HistoryResult(network)

    pending: list[EventDict] = []

    def flush() -> None:
        for r in store.store(pending, transport="sim"):
            if r.outcome is Outcome.STORED:
                out.stored += 1
            elif r.outcome is not Outcome.DUPLICATE:
                out.rejected += 1
        pending.clear()

    def sink(batch: list[EventDict]) -> None:  # a tick holds few events: store in slices
        out.events += len(batch)
        for ev in batch:
            pending.append(ev)
            if len(pending) >= SLICE:
                flush()

    fleet.run(sink, tick=tick_s)
    if pending:
        flush()
    return out
