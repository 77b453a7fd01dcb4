"""MQTT ingest worker: a shared subscription (MQTT v5) so several workers split the load.

Each worker subscribes ``$share/posguard-ingest/posguard/v1/+/+/events`` at QoS 1, batches what
arrives (up to ``batch_max`` messages or ``linger_s``), and stores it through the same
:class:`EventStore` as HTTP ingest, so a resend is stored once whichever worker gets it.

Payload of an events message: either one JSON event object (at most
:data:`~posguard.common.events.MAX_EVENT_BYTES`, 64 KiB) or a JSON array of event objects, a
batch from that one terminal, so the per-message client cost is shared by the batch. An array
holds at most :data:`MAX_BATCH_EVENTS` (1,000) events in at most
:data:`MAX_BATCH_PAYLOAD_BYTES` (1 MiB); an empty array, or one over either limit, is dropped
whole (``empty_batch``, ``batch_too_many``, ``batch_too_large``). Within an array each element
stands alone, as in an HTTP batch: one that is not an object, does not match the topic, or is
refused by the store is dropped and counted, and the rest of its message is still stored.
The terminal's agent (``posguard.terminal.agent.publish``) keeps its messages within these
limits.

Authentication: the broker authenticates each terminal and its ACL lets it publish only to its
own ``posguard/v1/{merchant}/{terminal}/events`` topic (configure that in Mosquitto/EMQX in
production). The worker then requires every event to match its topic and the terminal to be
known and not revoked. Malformed or refused events are counted
(``posguard_fleet_mqtt_malformed_total{reason}``: once per dropped event, once per payload
dropped whole) and dropped; the worker carries on.

Delivery: a message is acknowledged (PUBACK) only after the store call that covers it has
returned, whether its events were stored, duplicates, or refused (malformed, invalid, unknown
terminal: redelivering those would never help), and acknowledgements go out in the order the
messages arrived. When the store fails with a database error nothing of that batch is
acknowledged or counted: the worker disconnects, backs off (0.5 s doubling, at most 10 s) and
reconnects, and the broker redelivers every message it holds unacknowledged. That needs the
session to outlive the disconnect, so the worker connects with Clean Start off, a session expiry
of ``session_expiry_s`` (60 s by default) and its ``client_id``; Receive Maximum is
``2 * batch_max``, so the next batch arrives while one is stored. Mosquitto keeps an offline
session in its shared group (it still gets its share of new messages) and drops what that
session holds once it expires; an unacknowledged message is never handed to another member of
the group. On stop, ``run`` lets a store already running finish and acknowledges it, stops its
batching, unsubscribes, and stores and acknowledges whatever the broker still delivers until it
has been quiet for a moment, so a stopped worker leaves nothing it received unstored.

Confirmation: after a batch's store call returns, and before its PUBACKs, the worker publishes
to each terminal whose events it settled (stored now, or stored before) the seq ranges on
``posguard/v1/{merchant}/{terminal}/acks`` at QoS 1 (:mod:`posguard.common.event_ack`). The
terminal's agent keeps every event until then and resends what stays unconfirmed, so what the
broker loses is not lost: a worker that dies with unacknowledged messages (they come back only
if it reconnects with the same ``client_id`` within ``session_expiry_s``), messages Mosquitto
drops beyond ``max_queued_messages``, a broker restart. A refused event is not confirmed (a
terminal not yet registered keeps its events). A database error that repeats for one batch
(not an outage) still holds that worker's session back until it is fixed.

With ``dispatch_commands`` the worker also publishes pending remote commands to
``posguard/v1/{merchant}/{terminal}/commands`` (QoS 1). Each command is claimed by one
conditional UPDATE first, so two workers never send the same command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, cast

import aiomqtt
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from posguard.common.errors import EventError
from posguard.common.event_ack import ack_payload, seq_ranges
from posguard.common.event_batch import ParsedEvent, parse_events, parse_events_json
from posguard.fleet.clock import Clock, SystemClock
from posguard.fleet.ingest.mqtt_payload import (
    MAX_BATCH_EVENTS,
    MAX_BATCH_PAYLOAD_BYTES,
    SHARE_GROUP,
    SHARED_TOPIC,
    TOPIC_ROOT,
    decode,
    oversize,
    split_topic,
)

__all__ = [  # the payload rules are re-exported: callers know the worker's limits by its name
    "MAX_BATCH_EVENTS",
    "MAX_BATCH_PAYLOAD_BYTES",
    "SHARED_TOPIC",
    "SHARE_GROUP",
    "TOPIC_ROOT",
    "MqttIngestWorker",
    "WorkerStats",
    "decode",
    "split_topic",
]
from posguard.fleet.ingest.store import EventResult, EventStore, Outcome
from posguard.fleet.ingest.store import settled as is_settled
from posguard.fleet.metrics import (
    COMMANDS_SENT,
    MQTT_BATCH_SECONDS,
    MQTT_CONNECTED,
    MQTT_EVENTS,
    MQTT_MALFORMED,
    MQTT_REJECTED,
)
from posguard.fleet.repo.commands import claim_pending, command_message, command_topic, unclaim

log = structlog.get_logger(__name__)

_STORE_BACKOFF_MAX_S: Final = 10.0
"""The longest wait before reconnecting after a failed store (well within the session expiry)."""
_DRAIN_QUIET_S: Final = 0.25
"""On stop, after unsubscribing: how long the broker must send nothing before the worker goes."""


class _StoreFailedError(Exception):
    """The store failed with a database error: the batch was not acknowledged."""

    def __init__(self, messages: int) -> None:
        super().__init__(f"store failed, {messages} message(s) left unacknowledged")
        self.messages = messages


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


def _settle(
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


def _log_refused(refused: list[EventResult]) -> None:
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


class MqttIngestWorker:
    def __init__(
        self,
        store: EventStore,
        *,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        client_id: str | None = None,
        batch_max: int = 500,
        linger_s: float = 0.05,
        dispatch_commands: bool = False,
        sessions: sessionmaker[Session] | None = None,
        clock: Clock | None = None,
        dispatch_every_s: float = 0.5,
        topic_root: str = TOPIC_ROOT,
        share_group: str = SHARE_GROUP,
        session_expiry_s: int = 60,
        tls_context: ssl.SSLContext | None = None,
        on_dispatch_round: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.tls_context = tls_context  # None: plain TCP (see posguard.fleet.ingest.broker)
        self.on_dispatch_round = on_dispatch_round  # called after each dispatch round that ran
        self.client_id = client_id or f"posguard-ingest-{uuid.uuid4().hex[:8]}"
        self.batch_max = batch_max
        self.linger_s = linger_s
        self.dispatch_commands = dispatch_commands
        self.sessions = sessions
        self.clock = clock or SystemClock()
        self.dispatch_every_s = dispatch_every_s
        self.topic_root = topic_root
        self.subscription = f"$share/{share_group}/{topic_root}/+/+/events"
        self.session_expiry_s = session_expiry_s
        self.stats = WorkerStats()
        self.subscribed = asyncio.Event()
        self._store_backoff = 0.5

    def _client(self) -> aiomqtt.Client:
        """A client that acknowledges nothing by itself (see :meth:`_ack`) and resumes this
        worker's session, so what it left unacknowledged is delivered again."""
        connect = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        connect.SessionExpiryInterval = self.session_expiry_s
        connect.ReceiveMaximum = min(65_535, 2 * self.batch_max)
        client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=self.client_id,
            username=self.username,
            password=self.password,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=connect,
            timeout=10,
            queue_type=cast(Any, self._make_inbox),
            tls_context=self.tls_context,
        )
        # aiomqtt 2.5.1 has no manual acknowledgement: paho's, on the client underneath
        client._client.manual_ack_set(True)
        return client

    def _make_inbox(self, maxsize: int = 0) -> asyncio.Queue[aiomqtt.Message]:
        """The client's incoming-message queue, kept so a batch is drained from it directly."""
        self._inbox: asyncio.Queue[aiomqtt.Message] = asyncio.Queue(maxsize)
        return self._inbox

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, reconnecting with back-off when the broker goes away or
        the database fails a store. Returns once every message taken for storing is stored and
        acknowledged (or, the database failing, left unacknowledged for the broker)."""
        backoff = 0.5
        while not stop.is_set():
            try:
                async with self._client() as client:
                    await client.subscribe(self.subscription, qos=1)
                    self.subscribed.set()
                    MQTT_CONNECTED.labels(self.client_id).set(1)
                    backoff = 0.5
                    log.info(
                        "fleet.mqtt.subscribed", client_id=self.client_id, topic=self.subscription
                    )
                    await self._serve(client, stop)
            except aiomqtt.MqttError as exc:
                self.subscribed.clear()
                MQTT_CONNECTED.labels(self.client_id).set(0)
                log.warning("fleet.mqtt.disconnected", error=str(exc), retry_in_s=backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 30.0)
            except _StoreFailedError as exc:
                # disconnected (the session stays): on reconnecting the broker delivers again
                # what this worker left unacknowledged
                self.subscribed.clear()
                MQTT_CONNECTED.labels(self.client_id).set(0)
                delay = self._store_backoff
                log.warning(
                    "fleet.mqtt.store_unavailable", unacknowledged=exc.messages, retry_in_s=delay
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                self._store_backoff = min(
                    delay * 2, _STORE_BACKOFF_MAX_S, max(0.5, self.session_expiry_s / 2)
                )
        MQTT_CONNECTED.labels(self.client_id).set(0)

    async def _serve(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        """Consume (and dispatch) until ``stop`` is set or a task ends with an error. Nothing is
        cancelled midway: each task finishes what it is doing (a store and its acks, a command
        being sent) and returns once ``leave`` is set. After a stop, :meth:`_drain`."""
        inbox = self._inbox
        leave = asyncio.Event()

        async def until_stop() -> None:
            await stop.wait()
            leave.set()

        async def leaving_after(work: Coroutine[Any, Any, None]) -> None:
            try:
                await work
            finally:
                leave.set()

        watcher = asyncio.create_task(until_stop())
        tasks = [asyncio.create_task(leaving_after(self._consume(client, inbox, leave)))]
        if self.dispatch_commands and self.sessions is not None:
            tasks.append(asyncio.create_task(leaving_after(self._dispatch(client, leave))))
        try:
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            watcher.cancel()
            for t in tasks:  # only when this coroutine itself is cancelled
                t.cancel()
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            if all(isinstance(e, aiomqtt.MqttError) for e in errors):
                # a disconnect: every batch taken was acknowledged (or sent nowhere). Store what
                # was received since; if the connection is really gone the broker delivers it
                # again and the store finds it a duplicate
                with contextlib.suppress(_StoreFailedError):
                    while rest := self._take(inbox, self.batch_max):
                        await self._store_and_ack(client, rest)
            # a failed store first: it is what run backs off from
            errors.sort(key=lambda e: not isinstance(e, _StoreFailedError))
            raise errors[0]
        await self._drain(client, inbox)

    async def _consume(
        self, client: aiomqtt.Client, inbox: asyncio.Queue[aiomqtt.Message], leave: asyncio.Event
    ) -> None:
        """Wait for one message, take whatever else has arrived straight from the client's
        queue, linger briefly for a fuller batch, store it in a thread while the next messages
        arrive, and acknowledge it. Returns when ``leave`` is set, never during a store."""
        loop = asyncio.get_running_loop()
        while not leave.is_set():
            first = await self._next(client, inbox, leave)
            if first is None:
                return
            batch = self._take(inbox, self.batch_max, first)
            deadline = loop.time() + self.linger_s
            while len(batch) < self.batch_max and not leave.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await asyncio.sleep(min(remaining, 0.005))
                batch += self._take(inbox, self.batch_max - len(batch))
            await self._store_and_ack(client, batch)

    @staticmethod
    async def _next(
        client: aiomqtt.Client,
        inbox: asyncio.Queue[aiomqtt.Message],
        leave: asyncio.Event | None,
        timeout: float | None = None,
    ) -> aiomqtt.Message | None:
        """The next message; None once ``leave`` is set or after ``timeout`` s without one.
        Raises :class:`aiomqtt.MqttError` when the client is disconnected. Unlike cancelling
        ``anext(client.messages)`` or ``wait_for(inbox.get())``, a message taken from the queue
        is always returned, never dropped by the wait ending at the same moment."""
        with contextlib.suppress(asyncio.QueueEmpty):
            return inbox.get_nowait()
        # the future aiomqtt's own message iterator watches for a disconnect
        disconnected = client._disconnected
        getter = asyncio.ensure_future(inbox.get())
        waits: list[asyncio.Future[Any]] = [getter, disconnected]
        if leave is not None:
            waits.append(asyncio.ensure_future(leave.wait()))
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            getter.cancel()  # a get cancelled before it took a message leaves it queued
            if leave is not None:
                waits[2].cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        if disconnected.done():
            raise aiomqtt.MqttError(
                "Disconnected during message iteration"
            ) from disconnected.exception()
        return None

    @staticmethod
    def _take(
        inbox: asyncio.Queue[aiomqtt.Message], n: int, first: aiomqtt.Message | None = None
    ) -> list[aiomqtt.Message]:
        """Up to ``n`` messages already queued (after ``first``), without waiting."""
        batch = [] if first is None else [first]
        while len(batch) < n:
            try:
                batch.append(inbox.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch

    async def _store_and_ack(self, client: aiomqtt.Client, batch: list[aiomqtt.Message]) -> None:
        """Store a batch in a thread, then acknowledge its messages in the order they arrived.
        Raises :class:`_StoreFailedError`, acknowledging nothing, when the store failed with a
        database error. Cancelled, it still waits for the thread (which cannot be stopped) and
        acknowledges what it stored before going."""
        store = asyncio.ensure_future(asyncio.to_thread(self._handle, batch))
        try:
            settled = await asyncio.shield(store)
        except asyncio.CancelledError:
            settled = await store
            if settled is not None:
                self._confirm(client, settled)
                self._ack(client, batch)
            raise
        if settled is None:
            raise _StoreFailedError(len(batch))
        self._store_backoff = 0.5
        self._confirm(client, settled)
        self._ack(client, batch)

    def _confirm(self, client: aiomqtt.Client, settled: Settled) -> None:
        """Tell each terminal which of its seqs are now settled (stored, or stored before), on
        ``{root}/{merchant}/{terminal}/acks`` at QoS 1, after the commit and before the PUBACKs.
        Not awaited: paho sends it in order with the PUBACKs. Lost (a crash, a broker restart),
        the terminal resends those events after its timeout and gets them confirmed then."""
        paho = client._client
        for (merchant_id, terminal_id), seqs in settled.items():
            topic = f"{self.topic_root}/{merchant_id}/{terminal_id}/acks"
            paho.publish(topic, ack_payload(terminal_id, seq_ranges(seqs)), qos=1)
            self.stats.confirmed += len(seqs)

    @staticmethod
    def _ack(client: aiomqtt.Client, batch: list[aiomqtt.Message]) -> None:
        """PUBACK each message (paho's manual ack, QoS 0 needs none), in the order received.
        Called on the event loop, which drives the paho client. On a connection already lost
        it sends nothing: the broker then delivers the messages again."""
        paho = client._client
        for message in batch:
            paho.ack(message.mid, message.qos)

    async def _drain(self, client: aiomqtt.Client, inbox: asyncio.Queue[aiomqtt.Message]) -> None:
        """After a stop: unsubscribe, so the broker sends no new messages to this worker's
        session, then store and acknowledge what it has received and what the broker still
        delivers (what it had queued or in flight) until it has been quiet for
        :data:`_DRAIN_QUIET_S`."""
        try:
            await client.unsubscribe(self.subscription, timeout=10)
            quiet: float | None = _DRAIN_QUIET_S
        except aiomqtt.MqttError as exc:
            log.warning("fleet.mqtt.unsubscribe_failed", error=str(exc))
            quiet = None  # the connection is going: store what has arrived, wait for nothing
        while True:
            first = None
            if inbox.empty() and quiet is not None:
                try:
                    first = await self._next(client, inbox, None, quiet)
                except aiomqtt.MqttError:
                    quiet = None
            batch = self._take(inbox, self.batch_max, first)
            if not batch:
                return
            await self._store_and_ack(client, batch)

    def _plain(self, topic: str, payload: bytes) -> list[ParsedEvent | EventError] | None:
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

    def _handle(self, batch: list[aiomqtt.Message]) -> Settled | None:
        """Decode and store a batch; the seqs it settled per (merchant, terminal), or None when
        the store failed with a database error. Only a batch whose store call returned is
        counted (stats and malformed metrics), so one that failed counts once, when it is
        delivered again."""
        started = time.perf_counter()
        before = (self.stats.received, self.stats.stored, self.stats.duplicate)
        settled = self._handle_batch(batch)
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

    def _handle_batch(self, batch: list[aiomqtt.Message]) -> Settled | None:
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
            fast = self._plain(message.topic.value, payload)
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
                    _settle(settled, plain, start, part)
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
        _log_refused(refused)
        return settled

    def _claim(self) -> list[tuple[str, dict[str, Any]]]:
        assert self.sessions is not None
        with self.sessions.begin() as session:
            return [
                (command_topic(cmd).replace(TOPIC_ROOT, self.topic_root, 1), command_message(cmd))
                for cmd in claim_pending(session, now=self.clock.now())
            ]

    def _unclaim(self, command_id: str) -> None:
        assert self.sessions is not None
        with self.sessions.begin() as session:
            unclaim(session, command_id=command_id)

    async def _dispatch(self, client: aiomqtt.Client, leave: asyncio.Event) -> None:
        """Claim and publish pending commands every ``dispatch_every_s`` until ``leave`` is set
        (a claim or publish under way is finished first). A database error skips a round."""
        failing: str | None = None  # the cause being logged once, until a round works
        while not leave.is_set():
            try:
                claimed = await asyncio.to_thread(self._claim)
            except SQLAlchemyError as exc:
                cause = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"[:300]
                if cause != failing:
                    log.warning("fleet.mqtt.dispatch_failed", error=cause)
                failing = cause
                claimed = []
            else:
                if failing is not None:
                    log.info("fleet.mqtt.dispatch_recovered", last_error=failing)
                failing = None
                if self.on_dispatch_round is not None:
                    self.on_dispatch_round()
            for topic, message in claimed:
                try:
                    await client.publish(topic, json.dumps(message).encode(), qos=1, timeout=10)
                    COMMANDS_SENT.labels("mqtt").inc()
                except aiomqtt.MqttError:
                    try:
                        await asyncio.to_thread(self._unclaim, message["command_id"])
                    except SQLAlchemyError as exc:
                        log.error(
                            "fleet.mqtt.unclaim_failed",
                            command_id=message["command_id"],
                            error=str(exc),
                        )
                    raise
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leave.wait(), self.dispatch_every_s)
