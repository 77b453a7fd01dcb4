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

With ``dispatch_commands`` the worker also publishes pending remote commands to
``posguard/v1/{merchant}/{terminal}/commands`` (QoS 1). Each command is claimed by one
conditional UPDATE first, so two workers never send the same command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Final, cast

import aiomqtt
import structlog
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from posguard.common.errors import EventError
from posguard.common.event_batch import ParsedEvent, parse_events, parse_events_json
from posguard.common.events import MAX_EVENT_BYTES
from posguard.fleet.clock import Clock, SystemClock
from posguard.fleet.db.models import Command
from posguard.fleet.ingest.store import EventStore, Outcome
from posguard.fleet.metrics import COMMANDS_SENT, MQTT_MALFORMED
from posguard.fleet.repo.commands import (
    CommandStatus,
    command_message,
    command_topic,
    pending_commands,
)

log = structlog.get_logger(__name__)

SHARE_GROUP = "posguard-ingest"
TOPIC_ROOT = "posguard/v1"
SHARED_TOPIC = f"$share/{SHARE_GROUP}/{TOPIC_ROOT}/+/+/events"

MAX_BATCH_PAYLOAD_BYTES: Final = 1024 * 1024
"""The largest payload holding a JSON array of events (one event alone: ``MAX_EVENT_BYTES``)."""
MAX_BATCH_EVENTS: Final = 1000
"""The most events one array payload may hold (the HTTP batch's default limit too)."""

# JSON whitespace then "[": the payload is an array, so the array's size limit applies to it
_ARRAY_START: Final = re.compile(rb"[ \t\n\r]*\[")


@dataclass
class WorkerStats:
    """Counts of events, not messages: an array payload counts once per element, and a payload
    dropped whole (not JSON, too large, an empty or too long array) counts once. So while the
    store answers, ``received == stored + duplicate + malformed`` (``refused`` is the part of
    ``malformed`` the store refused)."""

    received: int = 0
    stored: int = 0
    duplicate: int = 0
    refused: int = 0
    malformed: int = 0


def split_topic(topic: str, root: str = TOPIC_ROOT) -> tuple[str, str] | None:
    """(merchant_id, terminal_id) of an events topic under ``root``, or None.

    >>> split_topic("posguard/v1/M01/T0001/events")
    ('M01', 'T0001')
    >>> split_topic("posguard/v1/M01/events") is None
    True
    """
    head, sep, rest = topic.partition(root + "/")
    parts = rest.split("/")
    if head or not sep or len(parts) != 3 or parts[2] != "events" or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def decode(
    topic: str, payload: bytes, root: str = TOPIC_ROOT
) -> tuple[list[dict[str, Any]], list[str]]:
    """The event objects of one message, and a reason for each part of it that is dropped.

    A payload dropped whole gives one reason: ``bad_topic``, ``too_large`` (one event over
    ``MAX_EVENT_BYTES``), ``batch_too_large`` (an array over ``MAX_BATCH_PAYLOAD_BYTES``),
    ``not_json``, ``not_object`` (neither an object nor an array), ``empty_batch`` or
    ``batch_too_many`` (an array of more than ``MAX_BATCH_EVENTS``). Otherwise each element of
    an array that is not an object gives ``not_object`` and each event whose ``merchant_id`` or
    ``terminal_id`` is not its topic's gives ``topic_mismatch``; the other events are returned.
    Schema checks happen in the store.

    >>> decode("posguard/v1/M1/T1/events", b'[{"merchant_id": "M1", "terminal_id": "T1"}, 7]')
    ([{'merchant_id': 'M1', 'terminal_id': 'T1'}], ['not_object'])
    >>> decode("posguard/v1/M1/T1/events", b" []")
    ([], ['empty_batch'])
    """
    where = split_topic(topic, root)
    if where is None:
        return [], ["bad_topic"]
    if _ARRAY_START.match(payload) is not None:
        if len(payload) > MAX_BATCH_PAYLOAD_BYTES:
            return [], ["batch_too_large"]
    elif len(payload) > MAX_EVENT_BYTES:
        return [], ["too_large"]
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return [], ["not_json"]
    merchant_id, terminal_id = where
    if isinstance(obj, dict):
        if obj.get("merchant_id") != merchant_id or obj.get("terminal_id") != terminal_id:
            return [], ["topic_mismatch"]
        return [obj], []
    if not isinstance(obj, list):
        return [], ["not_object"]
    if not obj:
        return [], ["empty_batch"]
    if len(obj) > MAX_BATCH_EVENTS:
        return [], ["batch_too_many"]
    events: list[dict[str, Any]] = []
    reasons: list[str] = []
    for item in obj:
        if not isinstance(item, dict):
            reasons.append("not_object")
        elif item.get("merchant_id") != merchant_id or item.get("terminal_id") != terminal_id:
            reasons.append("topic_mismatch")
        else:
            events.append(item)
    return events, reasons


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
    ) -> None:
        self.store = store
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.client_id = client_id or f"posguard-ingest-{uuid.uuid4().hex[:8]}"
        self.batch_max = batch_max
        self.linger_s = linger_s
        self.dispatch_commands = dispatch_commands
        self.sessions = sessions
        self.clock = clock or SystemClock()
        self.dispatch_every_s = dispatch_every_s
        self.topic_root = topic_root
        self.subscription = f"$share/{share_group}/{topic_root}/+/+/events"
        self.stats = WorkerStats()
        self.subscribed = asyncio.Event()

    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.host,
            self.port,
            identifier=self.client_id,
            username=self.username,
            password=self.password,
            protocol=aiomqtt.ProtocolVersion.V5,
            timeout=10,
            queue_type=cast(Any, self._make_inbox),
        )

    def _make_inbox(self, maxsize: int = 0) -> asyncio.Queue[aiomqtt.Message]:
        """The client's incoming-message queue, kept so a batch is drained from it directly."""
        self._inbox: asyncio.Queue[aiomqtt.Message] = asyncio.Queue(maxsize)
        return self._inbox

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, reconnecting with back-off when the broker goes away."""
        backoff = 0.5
        while not stop.is_set():
            try:
                async with self._client() as client:
                    await client.subscribe(self.subscription, qos=1)
                    self.subscribed.set()
                    backoff = 0.5
                    log.info(
                        "fleet.mqtt.subscribed", client_id=self.client_id, topic=self.subscription
                    )
                    await self._serve(client, stop)
            except aiomqtt.MqttError as exc:
                self.subscribed.clear()
                log.warning("fleet.mqtt.disconnected", error=str(exc), retry_in_s=backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 30.0)

    async def _serve(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        inbox = self._inbox
        tasks = [asyncio.create_task(self._consume(client, inbox, stop))]
        if self.dispatch_commands and self.sessions is not None:
            tasks.append(asyncio.create_task(self._dispatch(client, stop)))
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is not stopper and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        finally:
            for t in (*tasks, stopper):
                t.cancel()
            await asyncio.gather(*tasks, stopper, return_exceptions=True)
            # what was received but not stored yet is stored before the worker lets go
            rest: list[aiomqtt.Message] = []
            while not inbox.empty():
                rest.append(inbox.get_nowait())
            if rest:
                await asyncio.to_thread(self._handle, rest)

    async def _consume(
        self, client: aiomqtt.Client, inbox: asyncio.Queue[aiomqtt.Message], stop: asyncio.Event
    ) -> None:
        """Wait for one message (the client's iterator, which also notices a disconnect), take
        whatever else has arrived straight from the client's queue, linger briefly for a fuller
        batch, and store it in a thread while the next messages arrive."""
        loop = asyncio.get_running_loop()
        messages = aiter(client.messages)
        while not stop.is_set():
            batch = [await anext(messages)]
            deadline = loop.time() + self.linger_s
            while len(batch) < self.batch_max:
                try:
                    batch.append(inbox.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await asyncio.sleep(min(remaining, 0.005))
            await asyncio.to_thread(self._handle, batch)

    def _plain(self, topic: str, payload: bytes) -> list[ParsedEvent | EventError] | None:
        """The fast path: a message whose events are all plainly valid and all of its topic's
        terminal, validated in one pass over the payload. None: anything else, which
        :func:`decode` and the store then judge event by event."""
        where = split_topic(topic, self.topic_root)
        limit = MAX_BATCH_PAYLOAD_BYTES if _ARRAY_START.match(payload) else MAX_EVENT_BYTES
        if where is None or len(payload) > limit:
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

    def _handle(self, batch: list[aiomqtt.Message]) -> None:
        plain: list[ParsedEvent | EventError] = []
        objs: list[dict[str, Any]] = []
        for message in batch:
            payload = (
                message.payload
                if isinstance(message.payload, bytes)
                else str(message.payload).encode()
            )
            fast = self._plain(message.topic.value, payload)
            if fast is not None:
                self.stats.received += len(fast)
                plain.extend(fast)
                continue
            events, reasons = decode(message.topic.value, payload, self.topic_root)
            # events, not messages (see WorkerStats): each element of an array, or the payload
            # once when it is dropped whole
            self.stats.received += len(events) + len(reasons)
            if reasons:
                self.stats.malformed += len(reasons)
                for reason in reasons:
                    MQTT_MALFORMED.labels(reason).inc()
            objs.extend(events)
        if objs:
            plain.extend(parse_events(objs))
        if not plain:
            return
        try:
            # at most batch_max events a store call, however many each message carried
            results = [
                r
                for i in range(0, len(plain), self.batch_max)
                for r in self.store.store_parsed(plain[i : i + self.batch_max], transport="mqtt")
            ]
        except SQLAlchemyError as exc:
            # the database is down: these are lost to this worker; terminals resend what they
            # have not seen confirmed, and the (terminal_id, seq) key keeps resends single
            log.error("fleet.mqtt.store_failed", error=str(exc), dropped=len(plain))
            MQTT_MALFORMED.labels("store_error").inc(len(plain))
            return
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
                log.info(
                    "fleet.mqtt.refused", terminal_id=r.terminal_id, seq=r.seq, reason=r.reason
                )

    def _claim(self) -> list[tuple[str, dict[str, Any]]]:
        assert self.sessions is not None
        out: list[tuple[str, dict[str, Any]]] = []
        with self.sessions.begin() as session:
            for cmd in pending_commands(session, limit=200):
                claimed = session.execute(
                    update(Command)
                    .where(Command.id == cmd.id, Command.status == CommandStatus.PENDING.value)
                    .values(status=CommandStatus.SENT.value, sent_at=self.clock.now())
                )
                if getattr(claimed, "rowcount", 0) == 1:
                    topic = command_topic(cmd).replace(TOPIC_ROOT, self.topic_root, 1)
                    out.append((topic, command_message(cmd)))
        return out

    def _unclaim(self, command_id: str) -> None:
        assert self.sessions is not None
        with self.sessions.begin() as session:
            session.execute(
                update(Command)
                .where(Command.id == command_id, Command.status == CommandStatus.SENT.value)
                .values(status=CommandStatus.PENDING.value, sent_at=None)
            )

    async def _dispatch(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for topic, message in await asyncio.to_thread(self._claim):
                try:
                    await client.publish(topic, json.dumps(message).encode(), qos=1, timeout=10)
                    COMMANDS_SENT.labels("mqtt").inc()
                except aiomqtt.MqttError:
                    await asyncio.to_thread(self._unclaim, message["command_id"])
                    raise
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.dispatch_every_s)
