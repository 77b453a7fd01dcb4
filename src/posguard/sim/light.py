"""The light fleet model: thousands to hundreds of thousands of terminals in one process.

A light terminal has no socket, journal or printer; it emits the *same events* a full
terminal runtime emits (heartbeats with their wear counters from the wear model,
``wear_light.py``; transaction outcomes, faults and their clearing),
driven by the same fault timelines, so the fleet service can be exercised at estate
scale. Per-terminal state lives in NumPy arrays, and each simulated tick is a handful
of vector operations; the only per-event Python work is building the event dicts.

>>> from posguard.sim.population import build_estate
>>> from posguard.sim.timeline import parse_timeline
>>> tl = parse_timeline({"name": "t", "duration": 60, "events": [
...     {"at": 10, "fault": "paper_out", "target": {"share": 1.0}, "for": 20}]})
>>> fleet = LightFleet(build_estate(terminals=50, seed=3), tl, seed=3)
>>> stats = fleet.run(lambda batch: None, tick=1.0)
>>> stats.by_kind["fault"] >= 50, stats.by_kind["fault_cleared"] >= 50
(True, True)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posguard.card import mask_pan
from posguard.sim.cardbook import CardBook
from posguard.sim.network_model import NetworkModel
from posguard.sim.population import Estate
from posguard.sim.timeline import FaultKind, Timeline, TimelineEvent
from posguard.sim.wear_light import LightWear

EventDict = dict[str, Any]
_WEEK_S = 7 * 86_400.0
Sink = Callable[[list[EventDict]], object]

# Faults a light terminal sees only when it tries to reach its host.
_NETWORK = frozenset(
    {
        FaultKind.HOST_OUTAGE,
        FaultKind.FIREWALL_CHANGE,
        FaultKind.CONNECTION_REFUSED,
        FaultKind.RESPONSE_DROP,
    }
)
# Faults that are a standing condition of the device from start to end.
_STANDING = frozenset({FaultKind.PAPER_OUT, FaultKind.PRINTER_COVER_OPEN, FaultKind.BAD_FIRMWARE})

# Ordinary declines and their field-39 codes, with their share of all transactions.
_DECLINES: tuple[tuple[str, str, float], ...] = (
    ("51", "TXN.INSUFFICIENT_FUNDS", 0.012),
    ("55", "TXN.WRONG_PIN", 0.008),
    ("54", "TXN.EXPIRED_CARD", 0.002),
    ("05", "TXN.DO_NOT_HONOR", 0.003),
    ("61", "TXN.EXCEEDS_LIMIT", 0.002),
)


@dataclass
class SimStats:
    """What a run produced: counts per event kind and per catalog code, and events emitted."""

    events: int = 0
    ticks: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    by_code: Counter[str] = field(default_factory=Counter)


class LightFleet:
    """Vectorised model of an estate playing a timeline."""

    def __init__(
        self,
        estate: Estate,
        timeline: Timeline,
        *,
        heartbeat_interval: float = 60.0,
        txn_per_hour: float = 12.0,
        freeze_share: float = 0.3,
        seed: int = 1,
        start: datetime | None = None,
        network: NetworkModel | None = None,
        wear: bool = True,
    ) -> None:
        self.estate = estate
        self.timeline = timeline
        self.interval = heartbeat_interval
        self.txn_rate = txn_per_hour / 3600.0
        self.freeze_share = freeze_share
        self.start = start or datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
        self.rng = np.random.default_rng(seed)
        terms = estate.terminals
        n = len(terms)
        self.n = n
        self.tids = [t.terminal_id for t in terms]
        self.mids = [t.merchant_id for t in terms]
        self._attrs = {
            "host": np.array([t.host for t in terms]),
            "area": np.array([t.area for t in terms]),
            "brand": np.array([t.brand for t in terms]),
            "model": np.array([t.model for t in terms]),
        }
        self.seq = np.zeros(n, dtype=np.int64)
        self.phase = self.rng.uniform(0, heartbeat_interval, n)
        self.frozen = np.zeros(n, dtype=bool)
        # Terminals hit by each timeline event, fixed when the event starts.
        self._hit: dict[int, NDArray[np.intp]] = {}
        # Terminals that reported each network fault (only they report it cleared).
        self._reported: dict[int, NDArray[np.bool_]] = {}
        # The shoppers' cards, drawn as the full terminals draw them (``cardbook.py``), from a
        # random stream of their own so the rest of the event stream does not depend on them.
        # A transaction names its masked card and its amount (fen) like a terminal's does, so
        # the fleet correlates an issuer outage by BIN at estate scale. An issuer outage
        # declines the cards of its BIN; one that names no BIN, this share of the cards.
        book = CardBook.default()
        self._masked = np.array([mask_pan(c.pan) for c in book.cards])
        weights = np.array([c.weight for c in book.cards], dtype=float)
        self._card_p = weights / weights.sum()
        self._card_rng = np.random.default_rng([seed, 2])
        self._bin_share = 0.2
        # Link, carrier, signal and network failures per terminal (None: no network fields).
        self.network = network
        # Wear counters in every heartbeat (``data.wear``), from the wear model; its own
        # random generator, so the rest of the event stream is the same with or without it.
        self.wear = LightWear(n, seed=seed, start=self.start) if wear else None
        if self.wear is not None:
            self.wear.prime({"interval_s": self.interval})

    # -- targeting -------------------------------------------------------------------------
    def _select(self, ev: TimelineEvent) -> NDArray[np.intp]:
        mask = np.ones(self.n, dtype=bool)
        tgt = ev.target
        for attr in ("host", "area", "brand", "model"):
            want = getattr(tgt, attr)
            if want is not None:
                mask &= self._attrs[attr] == want
        if tgt.share < 1.0:
            mask &= self.rng.random(self.n) < tgt.share
        return np.flatnonzero(mask)

    # -- event building --------------------------------------------------------------------
    def _emit(
        self,
        out: list[EventDict],
        idx: NDArray[np.intp],
        ts: str,
        kind: str,
        code: str | None,
        data: dict[str, Any],
        each: list[dict[str, Any]] | None = None,
        whole: list[dict[str, Any]] | None = None,
    ) -> None:
        """Events for the terminals of ``idx``; ``each`` (aligned with ``idx``) adds per-terminal
        fields to ``data``; ``whole`` (aligned with ``idx``) is each event's entire ``data``."""
        if idx.size == 0:
            return
        self.seq[idx] += 1
        seqs = self.seq[idx].tolist()
        tids, mids = self.tids, self.mids
        for k, (i, s) in enumerate(zip(idx.tolist(), seqs, strict=True)):
            ev: EventDict = {
                "v": 1,
                "terminal_id": tids[i],
                "merchant_id": mids[i],
                "seq": s,
                "ts": ts,
                "kind": kind,
                "data": whole[k]
                if whole is not None
                else data
                if each is None
                else {**data, **each[k]},
            }
            if code is not None:
                ev["code"] = code
            out.append(ev)

    def step(self, t: float, dt: float) -> list[EventDict]:
        """Every event of the interval [t, t + dt)."""
        out: list[EventDict] = []
        ts = (self.start + timedelta(seconds=t)).isoformat()
        blocked_by = np.full(self.n, -1, dtype=np.int32)  # timeline event cutting the link
        issuers_down: list[str | None] = []
        for k, ev in enumerate(self.timeline.events):
            starts = t <= ev.at < t + dt
            ends = ev.until is not None and t <= ev.until < t + dt
            if starts:
                self._hit[k] = self._select(ev)
                self._on_start(out, k, ev, ts)
            if ev.active(t) and k in self._hit:
                if ev.fault in _NETWORK:
                    blocked_by[self._hit[k]] = k
                elif ev.fault is FaultKind.ISSUER_OUTAGE:
                    issuers_down.append(ev.target.bin)
            if ends and k in self._hit:
                self._on_end(out, k, ev, ts)
        self._heartbeats(out, t, dt, ts)
        self._transactions(out, dt, ts, blocked_by, issuers_down, week=t / _WEEK_S)
        return out

    def _on_start(self, out: list[EventDict], k: int, ev: TimelineEvent, ts: str) -> None:
        hit = self._hit[k]
        if ev.fault in _STANDING:
            data: dict[str, Any] = {"cause": ev.fault.value}
            if ev.fault is FaultKind.BAD_FIRMWARE:
                data["firmware"] = "bad-rollout"
            self._emit(out, hit, ts, "fault", ev.fault.code, data)
            if ev.fault is FaultKind.BAD_FIRMWARE:
                freeze = hit[self.rng.random(hit.size) < self.freeze_share]
                self.frozen[freeze] = True
        elif ev.fault is FaultKind.FEE_RATE_CHANGE:
            self._emit(out, hit, ts, "fault", ev.fault.code, {"cause": ev.fault.value})

    def _on_end(self, out: list[EventDict], k: int, ev: TimelineEvent, ts: str) -> None:
        hit = self._hit.pop(k)
        if ev.fault in _STANDING:
            if ev.fault is FaultKind.BAD_FIRMWARE:
                self.frozen[hit] = False
                self._emit(out, hit, ts, "lifecycle", None, {"action": "rollback"})
            self._emit(out, hit, ts, "fault_cleared", ev.fault.code, {})
        elif ev.fault in _NETWORK:  # clear only where a terminal actually reported the fault
            reported = self._reported.pop(k, np.zeros(self.n, dtype=bool))
            self._emit(out, np.flatnonzero(reported), ts, "fault_cleared", ev.fault.code, {})

    def _heartbeats(self, out: list[EventDict], t: float, dt: float, ts: str) -> None:
        before = np.floor((t + self.phase) / self.interval)
        after = np.floor((t + dt + self.phase) / self.interval)
        due = np.flatnonzero((after > before) & ~self.frozen)
        if due.size == 0:
            return
        data: dict[str, Any] = {"interval_s": self.interval}
        each = None
        if self.network is not None:
            each = self.network.heartbeat_data(due, week=t / _WEEK_S)
        if self.wear is None:
            self._emit(out, due, ts, "heartbeat", None, data, each)
            return
        whole = self.wear.heartbeat_data(due, t, data)  # shared within a terminal's hour
        if each is not None:
            whole = [{**w, **e} for w, e in zip(whole, each, strict=True)]
        self._emit(out, due, ts, "heartbeat", None, data, whole=whole)

    def _transactions(
        self,
        out: list[EventDict],
        dt: float,
        ts: str,
        blocked_by: NDArray[np.int32],
        issuers_down: list[str | None],
        *,
        week: float = 0.0,
    ) -> None:
        trying = np.flatnonzero((self.rng.random(self.n) < self.txn_rate * dt) & ~self.frozen)
        if trying.size == 0:
            return
        cut = blocked_by[trying]
        for k in np.unique(cut[cut >= 0]).tolist():
            failed = trying[cut == k]
            self._reported.setdefault(k, np.zeros(self.n, dtype=bool))[failed] = True
            code = self.timeline.events[k].fault.code
            self._emit(out, failed, ts, "fault", code, {"during": "sale"})
        ok = trying[cut < 0]
        if self.network is not None:
            ok = self._network_failures(out, ok, ts, week)
        # what reached the host: a card and an amount each
        cards = self._card_rng.choice(self._masked.size, size=ok.size, p=self._card_p)
        amounts = self._card_rng.integers(500, 100_000, size=ok.size)  # 5 to 1,000 CNY
        hosts = self._attrs["host"]

        def emit(pos: NDArray[np.intp], code: str | None, data: dict[str, Any]) -> None:
            idx = ok[pos]
            each = [
                {"masked_pan": m, "amount": a, "host": h, "failover": False}
                for m, a, h in zip(
                    self._masked[cards[pos]].tolist(),
                    amounts[pos].tolist(),
                    hosts[idx].tolist(),
                    strict=True,
                )
            ]
            self._emit(out, idx, ts, "transaction", code, data, each)

        roll = self.rng.random(ok.size)
        lo = 0.0
        for rc, code, share in _DECLINES:
            sel = np.flatnonzero((roll >= lo) & (roll < lo + share))
            emit(sel, code, {"type": "sale", "outcome": "declined", "rc": rc})
            lo += share
        approved = np.flatnonzero(roll >= lo)
        if issuers_down and approved.size:
            if None in issuers_down:
                hit = self.rng.random(approved.size) < self._bin_share
            else:
                masked = self._masked[cards[approved]]
                hit = np.zeros(approved.size, dtype=bool)
                for bin_ in issuers_down:
                    hit |= np.char.startswith(masked, str(bin_))
            emit(
                approved[hit],
                "TXN.ISSUER_UNAVAILABLE",
                {"type": "sale", "outcome": "declined", "rc": "91"},
            )
            approved = approved[~hit]
        emit(approved, None, {"type": "sale", "outcome": "approved", "rc": "00"})

    def _network_failures(
        self, out: list[EventDict], ok: NDArray[np.intp], ts: str, week: float
    ) -> NDArray[np.intp]:
        """Attempts lost to the terminal's own network (weak signal, a poor line): a fault event
        each, as when the host is cut off; the attempts that got through are returned."""
        assert self.network is not None
        timeout, reset = self.network.failures(ok, week=week)
        self._emit(out, timeout, ts, "fault", "NET.READ_TIMEOUT", {"during": "sale"})
        self._emit(out, reset, ts, "fault", "NET.CONNECTION_RESET", {"during": "sale"})
        return np.setdiff1d(ok, np.concatenate([timeout, reset]), assume_unique=True)

    def run(self, sink: Sink, *, tick: float = 1.0, until: float | None = None) -> SimStats:
        """Play the whole timeline (or up to ``until`` seconds), one sink call per tick."""
        stats = SimStats()
        end = self.timeline.duration if until is None else until
        t = 0.0
        while t < end:
            batch = self.step(t, tick)
            if batch:
                sink(batch)
            stats.events += len(batch)
            stats.ticks += 1
            for ev in batch:
                stats.by_kind[ev["kind"]] += 1
                if "code" in ev:
                    stats.by_code[ev["code"]] += 1
            t += tick
        return stats
