"""Publishers: move a batch of events from the outbox to the fleet, over MQTT or HTTP.

A publisher either hands the whole batch over (the broker or the fleet took it) or raises
:class:`PublishError` carrying the catalog code of what failed; the caller keeps the batch in
the outbox and backs off. Nothing here decides to drop an event. Handing over is not storing:
an event leaves the outbox only when the fleet confirms it stored it
(:mod:`posguard.common.event_ack`). Over HTTP the answer carries that confirmation, so
:meth:`~Publisher.publish` returns it; over MQTT it arrives later on the terminal's ``acks``
topic and goes to the ``on_confirm`` sink.

- MQTT: on ``posguard/v1/{merchant_id}/{terminal_id}/events``, QoS 1, a batch of several
  events goes as one message holding a JSON array of them (one PUBACK for the batch) and a
  single event as a plain JSON object. A batch larger than the fleet worker accepts in one
  message (:data:`MAX_BATCH_EVENTS` events, :data:`MAX_BATCH_PAYLOAD_BYTES` bytes) is split
  into several messages; each publish waits for its PUBACK, and if one fails the whole batch
  stays in the outbox (a resend of the delivered part is stored once: events are keyed by
  ``(terminal_id, seq)``). The same session subscribes to ``.../commands`` (QoS 1) and hands
  every command to a callback.
  The session also subscribes to ``.../acks`` (QoS 1): the fleet's confirmations, kept by the
  broker while the terminal is away (persistent session).
- HTTP: ``POST {base}/api/v1/ingest/batch`` with ``{"events": [...]}`` and
  ``Authorization: Bearer <terminal token>``; a 2xx answer's ``confirmed`` ranges are what the
  fleet stored (an answer without them, from an older fleet, confirms the whole batch).
  413 means the batch is too large: ``PublishError.too_large``
  tells the agent to halve it. Commands are picked up with
  ``GET {base}/api/v1/terminals/{terminal_id}/commands/pending`` (:meth:`poll_commands`),
  and also taken from a ``{"commands": [...]}`` member of an ingest answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Protocol

import aiomqtt
import httpx

from posguard.common.errors import EventError, LinkError
from posguard.common.event_ack import Ack, parse_ack, parse_ack_ranges, seq_ranges
from posguard.common.events import Event
from posguard.terminal.agent.outbox import event_json

TOPIC_ROOT: Final = "posguard/v1"
INGEST_PATH: Final = "/api/v1/ingest/batch"

# What one MQTT events message may hold: the fleet worker's limits of the same names in
# posguard.fleet.ingest.mqtt_worker (the terminal does not import the fleet; a test keeps
# these within them).
MAX_BATCH_PAYLOAD_BYTES: Final = 1024 * 1024
MAX_BATCH_EVENTS: Final = 1000

log = logging.getLogger("posguard.terminal.agent")

CommandSink = Callable[[bytes], Awaitable[object]]  # what it returns is not used
ConfirmSink = Callable[[Ack], object]
"""Takes each confirmation from the fleet; called on the publisher's event loop, must not block
for long."""
Ranges = list[tuple[int, int]]


class PublishError(LinkError):
    """A batch could not be delivered; ``code`` names the fault (NET.*, CFG.*, TP.*).
    ``too_large``: the receiver refused the batch for its size (send fewer at a time)."""

    too_large: bool = False


class Publisher(Protocol):
    async def publish(self, batch: Sequence[Event]) -> Ranges:
        """Hand every event of ``batch`` over or raise :class:`PublishError`; returns the seq
        ranges the fleet confirmed in its answer (none when confirmations come later)."""

    async def close(self) -> None:
        """Release connections."""


def events_topic(merchant_id: str, terminal_id: str) -> str:
    """The MQTT topic of one terminal's events.

    >>> events_topic("898310048990001", "T0000001")
    'posguard/v1/898310048990001/T0000001/events'
    """
    return f"{TOPIC_ROOT}/{merchant_id}/{terminal_id}/events"


def commands_topic(merchant_id: str, terminal_id: str) -> str:
    return f"{TOPIC_ROOT}/{merchant_id}/{terminal_id}/commands"


def acks_topic(merchant_id: str, terminal_id: str) -> str:
    """Where the fleet confirms this terminal's stored events (:mod:`posguard.common.event_ack`)."""
    return f"{TOPIC_ROOT}/{merchant_id}/{terminal_id}/acks"


def mqtt_payloads(
    encoded: Sequence[bytes],
    *,
    max_bytes: int = MAX_BATCH_PAYLOAD_BYTES,
    max_events: int = MAX_BATCH_EVENTS,
) -> list[bytes]:
    """The MQTT messages carrying ``encoded`` (each one event's JSON), in order: runs of events
    as JSON arrays of at most ``max_events`` and ``max_bytes``, a run of one as the plain object.
    An event too big for an array of its own goes alone, as an object.

    >>> mqtt_payloads([b'{"seq":1}', b'{"seq":2}', b'{"seq":3}'], max_events=2)
    [b'[{"seq":1},{"seq":2}]', b'{"seq":3}']
    >>> mqtt_payloads([b'{"seq":1}', b'{"seq":2}'], max_bytes=20)
    [b'{"seq":1}', b'{"seq":2}']
    """
    out: list[bytes] = []
    run: list[bytes] = []
    size = 2  # the brackets
    for raw in encoded:
        if run and (len(run) >= max_events or size + 1 + len(raw) > max_bytes):
            out.append(run[0] if len(run) == 1 else b"[" + b",".join(run) + b"]")
            run, size = [], 2
        size += len(raw) + (1 if run else 0)  # and its comma
        run.append(raw)
    if run:
        out.append(run[0] if len(run) == 1 else b"[" + b",".join(run) + b"]")
    return out


class MqttPublisher:
    """Publishes over one persistent MQTT session and listens for remote commands."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        merchant_id: str,
        terminal_id: str,
        on_command: CommandSink | None = None,
        on_confirm: ConfirmSink | None = None,
        timeout: float = 5.0,
        username: str | None = None,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port = host, port
        self._tls = tls_context
        self.merchant_id, self.terminal_id = merchant_id, terminal_id
        self.timeout = timeout
        self._on_command = on_command
        self.on_confirm = on_confirm
        self._auth = (username, password)
        self._client: aiomqtt.Client | None = None
        self._listener: asyncio.Task[None] | None = None

    @property
    def topic(self) -> str:
        return events_topic(self.merchant_id, self.terminal_id)

    async def _connect(self) -> aiomqtt.Client:
        if self._client is not None:
            return self._client
        client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=f"posguard-{self.terminal_id}",
            clean_session=False,  # the broker keeps commands (QoS 1) while we are away
            timeout=self.timeout,
            keepalive=30,
            username=self._auth[0],
            password=self._auth[1],
            tls_context=self._tls,
        )
        try:
            await asyncio.wait_for(client.__aenter__(), self.timeout)
            await client.subscribe(acks_topic(self.merchant_id, self.terminal_id), qos=1)
            if self._on_command is not None:
                await client.subscribe(commands_topic(self.merchant_id, self.terminal_id), qos=1)
            self._listener = asyncio.create_task(self._listen(client))
        except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
            raise _mqtt_error(exc, self.host, self.port) from exc
        self._client = client
        return client

    async def _listen(self, client: aiomqtt.Client) -> None:
        acks = acks_topic(self.merchant_id, self.terminal_id)
        with contextlib.suppress(aiomqtt.MqttError):
            async for message in client.messages:
                payload = message.payload
                raw = (
                    bytes(payload)
                    if isinstance(payload, bytes | bytearray)
                    else str(payload).encode()
                )
                if message.topic.matches(acks):
                    self._confirmed(raw)
                elif self._on_command is not None:
                    await self._on_command(raw)

    def _confirmed(self, raw: bytes) -> None:
        try:
            ack = parse_ack(raw)
        except EventError as exc:
            log.warning("terminal %s: acknowledgement ignored: %s", self.terminal_id, exc)
            return
        if ack.terminal_id != self.terminal_id:
            log.warning(
                "terminal %s: acknowledgement for terminal %s ignored",
                self.terminal_id,
                ack.terminal_id,
            )
            return
        if self.on_confirm is not None:
            self.on_confirm(ack)

    async def connect(self) -> None:
        """Open the session now (to receive commands before there is anything to send)."""
        await self._connect()

    async def publish(self, batch: Sequence[Event]) -> Ranges:
        """Hand ``batch`` to the broker as one message (a JSON array, or the object of a single
        event), or as several when it is over the fleet's per-message limits; each waits for
        its PUBACK. Confirms nothing: the fleet's confirmation comes on the acks topic."""
        payloads = mqtt_payloads([event.model_dump_json().encode() for event in batch])
        client = await self._connect()
        try:
            for payload in payloads:
                await client.publish(self.topic, payload, qos=1, timeout=self.timeout)
        except (aiomqtt.MqttError, OSError) as exc:
            await self.close()
            raise _mqtt_error(exc, self.host, self.port) from exc
        return []

    async def close(self) -> None:
        client, self._client = self._client, None
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.__aexit__(None, None, None), self.timeout)


def _mqtt_error(exc: BaseException, host: str, port: int) -> PublishError:
    text = str(exc).lower()
    if isinstance(exc, socket.gaierror) or "name or service" in text or "nodename" in text:
        code = "NET.DNS_FAILURE"
    elif "refused" in text:
        code = "NET.CONNECT_REFUSED"
    elif isinstance(exc, TimeoutError) or "timed out" in text:
        code = "NET.CONNECT_TIMEOUT"
    elif isinstance(exc, ssl.SSLError) or "certificate" in text or "ssl" in text:
        code = "NET.TLS_FAILURE"
    elif "not authori" in text or "bad user" in text:
        code = "CFG.TERMINAL_UNREGISTERED"
    else:
        code = "NET.CONNECTION_RESET"
    return PublishError(f"MQTT broker {host}:{port}: {exc}", code=code, broker=f"{host}:{port}")


class HttpPublisher:
    """POSTs batches to the fleet ingest API with this terminal's bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        terminal_id: str | None = None,
        on_command: CommandSink | None = None,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + INGEST_PATH
        self.pickup_url = (
            None
            if terminal_id is None
            else f"{base_url.rstrip('/')}/api/v1/terminals/{terminal_id}/commands/pending"
        )
        self._headers = {"Authorization": f"Bearer {token}"}
        self._on_command = on_command
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def publish(self, batch: Sequence[Event]) -> Ranges:
        body = {"events": [event_json(e) for e in batch]}
        try:
            resp = await self._client.post(self.url, json=body, headers=self._headers)
        except httpx.ConnectTimeout as exc:
            raise PublishError(
                f"fleet {self.url}: connect timeout", code="NET.CONNECT_TIMEOUT"
            ) from exc
        except httpx.TimeoutException as exc:
            raise PublishError(
                f"fleet {self.url}: no answer in time", code="NET.READ_TIMEOUT"
            ) from exc
        except httpx.ConnectError as exc:
            text = str(exc).lower()
            code = (
                "NET.DNS_FAILURE"
                if "name or service" in text or "nodename" in text or "resolution" in text
                else "NET.CONNECT_REFUSED"
            )
            raise PublishError(f"fleet {self.url}: {exc}", code=code) from exc
        except httpx.TransportError as exc:
            raise PublishError(f"fleet {self.url}: {exc}", code="NET.CONNECTION_RESET") from exc
        if resp.status_code in (401, 403):
            raise PublishError(
                f"fleet {self.url} refused this terminal's token (HTTP {resp.status_code})",
                code="CFG.TERMINAL_UNREGISTERED",
            )
        if resp.status_code == 413:
            err = PublishError(
                f"fleet {self.url} refused a batch of {len(batch)} as too large",
                code="TP.API_ERROR",
            )
            err.too_large = True
            raise err
        if not resp.is_success:
            raise PublishError(
                f"fleet {self.url} answered HTTP {resp.status_code}", code="TP.API_ERROR"
            )
        try:
            answer: Any = resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            answer = None
        await self._dispatch_commands(answer)
        return _confirmed_ranges(answer, batch)

    async def poll_commands(self) -> int:
        """Collect pending commands from the fleet and hand each to the command callback."""
        if self.pickup_url is None or self._on_command is None:
            return 0
        try:
            resp = await self._client.get(self.pickup_url, headers=self._headers)
        except httpx.HTTPError as exc:
            raise PublishError(
                f"fleet {self.pickup_url}: {exc}", code="NET.CONNECT_REFUSED"
            ) from exc
        if not resp.is_success:
            raise PublishError(
                f"fleet {self.pickup_url} answered HTTP {resp.status_code}",
                code="CFG.TERMINAL_UNREGISTERED"
                if resp.status_code in (401, 403)
                else "TP.API_ERROR",
            )
        try:
            commands: Any = resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return 0
        if not isinstance(commands, list):
            return 0
        for cmd in commands:
            await self._on_command(json.dumps(cmd).encode())
        return len(commands)

    async def _dispatch_commands(self, body: Any) -> None:
        if self._on_command is None:
            return
        commands = body.get("commands") if isinstance(body, dict) else None
        if isinstance(commands, list):
            for cmd in commands:
                await self._on_command(json.dumps(cmd).encode())

    async def close(self) -> None:
        await self._client.aclose()


def _confirmed_ranges(answer: Any, batch: Sequence[Event]) -> Ranges:
    """The seq ranges an ingest answer confirms: its ``confirmed`` member (the fleet's stored
    or duplicate events), or, from a fleet that does not send one, the whole batch.

    >>> _confirmed_ranges({"confirmed": [[1, 2]]}, [])
    [(1, 2)]
    """
    confirmed = answer.get("confirmed") if isinstance(answer, dict) else None
    if isinstance(confirmed, list):
        try:
            return list(parse_ack_ranges(confirmed))
        except EventError:
            return []
    return seq_ranges(e.seq for e in batch)
