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

What a batch becomes (decoded, stored, counted) is :mod:`.mqtt_batch`; with
``dispatch_commands`` the worker also sends pending remote commands (:mod:`.command_dispatch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, Final, cast

import aiomqtt
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.orm import Session, sessionmaker

from posguard.common.event_ack import ack_payload, seq_ranges
from posguard.fleet.clock import Clock, SystemClock
from posguard.fleet.ingest import mqtt_properties
from posguard.fleet.ingest.command_dispatch import CommandDispatcher
from posguard.fleet.ingest.mqtt_batch import MessageBatchStore, Settled, WorkerStats
from posguard.fleet.ingest.mqtt_payload import (
    MAX_BATCH_EVENTS,
    MAX_BATCH_PAYLOAD_BYTES,
    SHARE_GROUP,
    SHARED_TOPIC,
    TOPIC_ROOT,
    decode,
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
from posguard.fleet.ingest.store import EventStore
from posguard.fleet.metrics import MQTT_CONNECTED

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
        self.batches = MessageBatchStore(
            store,
            topic_root=topic_root,
            batch_max=batch_max,
            client_id=self.client_id,
            stats=self.stats,
        )
        self.subscribed = asyncio.Event()
        self._store_backoff = 0.5

    def _client(self) -> aiomqtt.Client:
        """A client that acknowledges nothing by itself (see :meth:`_ack`) and resumes this
        worker's session, so what it left unacknowledged is delivered again."""
        mqtt_properties.install()  # paho decodes each packet's properties more cheaply
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
            dispatcher = CommandDispatcher(
                self.sessions,
                clock=self.clock,
                topic_root=self.topic_root,
                every_s=self.dispatch_every_s,
                on_round=self.on_dispatch_round,
            )
            tasks.append(asyncio.create_task(leaving_after(dispatcher.run(client, leave))))
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
        store = asyncio.ensure_future(asyncio.to_thread(self.batches.handle, batch))
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
