"""MQTT ingest worker: a shared subscription (MQTT v5) so several workers split the load.

Each worker subscribes ``$share/posguard-ingest/posguard/v1/+/+/events`` at QoS 1, batches what
arrives (up to ``batch_max`` messages or ``linger_s``), and stores it through the same
:class:`EventStore` as HTTP ingest, so a resend is stored once whichever worker gets it.

Authentication: the broker authenticates each terminal and its ACL lets it publish only to its
own ``posguard/v1/{merchant}/{terminal}/events`` topic (configure that in Mosquitto/EMQX in
production). The worker then requires the payload to match its topic and the terminal to be
known and not revoked. Malformed or refused messages are counted
(``posguard_fleet_mqtt_malformed_total{reason}``) and dropped; the worker carries on.

With ``dispatch_commands`` the worker also publishes pending remote commands to
``posguard/v1/{merchant}/{terminal}/commands`` (QoS 1). Each command is claimed by one
conditional UPDATE first, so two workers never send the same command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass
from typing import Any, cast

import aiomqtt
import structlog
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

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


@dataclass
class WorkerStats:
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
) -> tuple[dict[str, Any] | None, str | None]:
    """The event object, or a reason it is malformed (``bad_topic``, ``too_large``, ``not_json``,
    ``not_object``, ``topic_mismatch``). Schema checks happen in the store."""
    where = split_topic(topic, root)
    if where is None:
        return None, "bad_topic"
    if len(payload) > MAX_EVENT_BYTES:
        return None, "too_large"
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, "not_json"
    if not isinstance(obj, dict):
        return None, "not_object"
    if obj.get("merchant_id") != where[0] or obj.get("terminal_id") != where[1]:
        return None, "topic_mismatch"
    return obj, None


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

    def _handle(self, batch: list[aiomqtt.Message]) -> None:
        objs: list[dict[str, Any]] = []
        for message in batch:
            self.stats.received += 1
            payload = (
                message.payload
                if isinstance(message.payload, bytes)
                else str(message.payload).encode()
            )
            obj, reason = decode(message.topic.value, payload, self.topic_root)
            if obj is None:
                self.stats.malformed += 1
                MQTT_MALFORMED.labels(reason or "unknown").inc()
                continue
            objs.append(obj)
        if not objs:
            return
        try:
            results = self.store.store(objs, transport="mqtt")
        except SQLAlchemyError as exc:
            # the database is down: these are lost to this worker; terminals resend what they
            # have not seen confirmed, and the (terminal_id, seq) key keeps resends single
            log.error("fleet.mqtt.store_failed", error=str(exc), dropped=len(objs))
            MQTT_MALFORMED.labels("store_error").inc(len(objs))
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
