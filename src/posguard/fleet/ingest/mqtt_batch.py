"""What one batch of MQTT messages becomes: decoded (one validation pass over a plainly valid
message's bytes, or event by event), stored through the :class:`EventStore` at most
``batch_max`` events a call, counted (:class:`WorkerStats`, the per-worker metrics) and the seqs
settled per terminal, for the worker to confirm and acknowledge (:mod:`.mqtt_worker`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiomqtt
import structlog
from sqlalchemy.exc import SQLAlchemyError

from posguard.common.errors import EventError
from posguard.common.event_batch import ParsedEvent, parse_events, parse_events_json
from posguard.fleet.ingest.mqtt_payload import MAX_BATCH_EVENTS, decode, oversize, split_topic
from posguard.fleet.ingest.store import EventResult, EventStore, Outcome
from posguard.fleet.ingest.store import settled as is_settled
from posguard.fleet.metrics import MQTT_BATCH_SECONDS, MQTT_EVENTS, MQTT_MALFORMED, MQTT_REJECTED

log = structlog.get_logger("posguard.fleet.ingest.mqtt_worker")


@dataclass
class WorkerStats:
    """Counts of events, not messages: an array payload counts once per element, and a payload
    dropped whole (not JSON, too large, an empty or too long array) counts once. A batch is
    counted when its store call has returned (a batch whose store failed is not counted, its
    redelivery is), so ``received == stored + duplicate + malformed`` between batches
    (``refused`` is the part of ``malformed`` the store refused)."""

    received: int = 0
    stored: int = 0
    duplicate: int = 0
    refused: int = 0
    malformed: int = 0
    confirmed: int = 0
    """Seqs confirmed back to their terminals (stored or duplicate)."""


Settled = dict[tuple[str, str], list[int]]
"""(merchant_id, terminal_id) -> the seqs a store call settled for that terminal."""


def settle(
    settled: Settled,
    parsed: list[ParsedEvent | EventError],
    start: int,
    results: list[EventResult],
) -> None:
    """Add to ``settled`` the events of ``results`` (of ``parsed[start:]``) the fleet now holds
    (:func:`~posguard.fleet.ingest.store.settled`)."""
    for r in results:
        if not is_settled(r):
            continue
        event = parsed[start + r.index]
        assert not isinstance(event, EventError)
        assert r.terminal_id is not None
        assert r.seq is not None
        settled.setdefault((event[0]["merchant_id"], r.terminal_id), []).append(r.seq)


def log_refused(refused: list[EventResult]) -> None:
    """One ``fleet.mqtt.refused`` line per reason in a batch, not one per event (a terminal the
    fleet does not know resends its whole outbox: 645 lines from 32 terminals in the review):
    the reason with the terminal id taken out, the events, and the terminals (at most 20)."""
    groups: dict[str, list[EventResult]] = {}
    for r in refused:
        reason = r.reason or "refused"
        if r.terminal_id:
            reason = reason.replace(r.terminal_id, "{terminal}")
        groups.setdefault(reason, []).append(r)
    for reason, rows in groups.items():
        terminals = sorted({r.terminal_id for r in rows if r.terminal_id})
        log.info(
            "fleet.mqtt.refused",
            reason=reason,
            events=len(rows),
            terminals=terminals[:20],
            terminal_count=len(terminals),
        )


class MessageBatchStore:
    """Stores the batches of one worker (``client_id`` labels its metrics) into ``stats``."""

    def __init__(
        self,
        store: EventStore,
        *,
        topic_root: str,
        batch_max: int,
        client_id: str,
        stats: WorkerStats,
    ) -> None:
        self.store = store
        self.topic_root = topic_root
        self.batch_max = batch_max
        self.client_id = client_id
        self.stats = stats

    def plain(self, topic: str, payload: bytes) -> list[ParsedEvent | EventError] | None:
        """The fast path: a message whose events are all plainly valid and all of its topic's
        terminal, validated in one pass over the payload. None: anything else, which
        :func:`decode` and the store then judge event by event."""
        where = split_topic(topic, self.topic_root)
        if where is None or oversize(payload) is not None:
            return None
        parsed = parse_events_json(payload)
        if parsed is None or not 0 < len(parsed) <= MAX_BATCH_EVENTS:
            return None
        merchant_id, terminal_id = where
        for p in parsed:
            if isinstance(p, EventError):
                return None
            if p[0]["merchant_id"] != merchant_id or p[0]["terminal_id"] != terminal_id:
                return None
        return parsed

    def handle(self, batch: list[aiomqtt.Message]) -> Settled | None:
        """Decode and store a batch; the seqs it settled per (merchant, terminal), or None when
        the store failed with a database error. Only a batch whose store call returned is
        counted (stats and malformed metrics), so one that failed counts once, when it is
        delivered again."""
        started = time.perf_counter()
        before = (self.stats.received, self.stats.stored, self.stats.duplicate)
        settled = self._store_batch(batch)
        if settled is not None:
            self._count(before, time.perf_counter() - started)
        return settled

    def _count(self, before: tuple[int, int, int], seconds: float) -> None:
        """Per-worker metrics of one stored batch (the rejections are counted where known)."""
        worker = self.client_id
        MQTT_BATCH_SECONDS.labels(worker).observe(seconds)
        received, stored, duplicate = before
        MQTT_EVENTS.labels(worker, "received").inc(self.stats.received - received)
        MQTT_EVENTS.labels(worker, "stored").inc(self.stats.stored - stored)
        MQTT_EVENTS.labels(worker, "duplicate").inc(self.stats.duplicate - duplicate)

    def _store_batch(self, batch: list[aiomqtt.Message]) -> Settled | None:
        plain: list[ParsedEvent | EventError] = []
        objs: list[dict[str, Any]] = []
        received = 0
        dropped: list[str] = []
        for message in batch:
            payload = (
                message.payload
                if isinstance(message.payload, bytes)
                else str(message.payload).encode()
            )
            fast = self.plain(message.topic.value, payload)
            if fast is not None:
                received += len(fast)
                plain.extend(fast)
                continue
            events, reasons = decode(message.topic.value, payload, self.topic_root)
            # events, not messages (see WorkerStats): each element of an array, or the payload
            # once when it is dropped whole
            received += len(events) + len(reasons)
            dropped.extend(reasons)
            objs.extend(events)
        if objs:
            plain.extend(parse_events(objs))
        results: list[EventResult] = []
        settled: Settled = {}
        if plain:
            try:
                # at most batch_max events a store call, however many each message carried
                for start in range(0, len(plain), self.batch_max):
                    part = self.store.store_parsed(
                        plain[start : start + self.batch_max], transport="mqtt"
                    )
                    results.extend(part)
                    settle(settled, plain, start, part)
            except SQLAlchemyError as exc:
                # the database is down: the batch stays unacknowledged and the broker delivers
                # it again (a part an earlier call stored is then a duplicate)
                log.error(
                    "fleet.mqtt.store_failed",
                    error=str(exc),
                    events=len(plain),
                    messages=len(batch),
                )
                return None
        self.stats.received += received
        self.stats.malformed += len(dropped)
        for reason in dropped:
            MQTT_MALFORMED.labels(reason).inc()
            MQTT_REJECTED.labels(self.client_id, reason).inc()
            MQTT_EVENTS.labels(self.client_id, "rejected").inc()
        refused: list[EventResult] = []
        for r in results:
            if r.outcome is Outcome.STORED:
                self.stats.stored += 1
            elif r.outcome is Outcome.DUPLICATE:
                self.stats.duplicate += 1
            else:
                self.stats.refused += 1
                self.stats.malformed += 1
                reason = (
                    "invalid_event"
                    if r.reason and r.reason.startswith("invalid event")
                    else "refused"
                )
                MQTT_MALFORMED.labels(reason).inc()
                MQTT_REJECTED.labels(self.client_id, reason).inc()
                MQTT_EVENTS.labels(self.client_id, "rejected").inc()
                refused.append(r)
        log_refused(refused)
        return settled
