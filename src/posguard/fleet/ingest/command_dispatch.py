"""Remote commands out over MQTT: every ``every_s`` the pending commands are claimed (one
conditional UPDATE each, so two workers never send the same one) and published to
``posguard/v1/{merchant}/{terminal}/commands`` at QoS 1; a publish that fails puts its command
back (unclaimed) and ends the round. Run by an ingest worker with ``dispatch_commands``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiomqtt
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from posguard.fleet.clock import Clock
from posguard.fleet.ingest.mqtt_payload import TOPIC_ROOT
from posguard.fleet.metrics import COMMANDS_SENT
from posguard.fleet.repo.commands import claim_pending, command_message, command_topic
from posguard.fleet.repo.commands import unclaim as unclaim_command

log = structlog.get_logger("posguard.fleet.ingest.mqtt_worker")


class CommandDispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Clock,
        topic_root: str,
        every_s: float,
        on_round: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.topic_root = topic_root
        self.every_s = every_s
        self.on_dispatch_round = on_round  # called after each round that ran

    def claim(self) -> list[tuple[str, dict[str, Any]]]:
        with self.sessions.begin() as session:
            return [
                (command_topic(cmd).replace(TOPIC_ROOT, self.topic_root, 1), command_message(cmd))
                for cmd in claim_pending(session, now=self.clock.now())
            ]

    def unclaim(self, command_id: str) -> None:
        with self.sessions.begin() as session:
            unclaim_command(session, command_id=command_id)

    async def run(self, client: aiomqtt.Client, leave: asyncio.Event) -> None:
        """Claim and publish pending commands every ``dispatch_every_s`` until ``leave`` is set
        (a claim or publish under way is finished first). A database error skips a round."""
        failing: str | None = None  # the cause being logged once, until a round works
        while not leave.is_set():
            try:
                claimed = await asyncio.to_thread(self.claim)
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
                        await asyncio.to_thread(self.unclaim, message["command_id"])
                    except SQLAlchemyError as exc:
                        log.error(
                            "fleet.mqtt.unclaim_failed",
                            command_id=message["command_id"],
                            error=str(exc),
                        )
                    raise
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leave.wait(), self.every_s)
