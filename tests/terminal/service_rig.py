"""The real terminal service (``posguard terminal run`` as a child process) under the real
watchdog, and what the tests read of it: the events in its outbox, or the events it publishes
on the broker, read as the fleet reads them."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posguard.common.events import Event
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.testing import LAB_MID, LAB_TID
from posguard.terminal.watchdog import Emit, Supervisor

if TYPE_CHECKING:
    import aiomqtt

__all__ = [
    "CLI",
    "BrokerEvents",
    "outbox_events",
    "process_alive",
    "resumed_after_reboot",
    "service_argv",
    "service_under_watchdog",
    "wait_until",
]

#: ``posguard`` in a child process, with this interpreter.
CLI = [sys.executable, "-c", "from posguard.cli import main; main()"]


def service_argv(conf: Path) -> list[str]:
    """``posguard terminal run --config CONF``."""
    return [*CLI, "terminal", "run", "--config", str(conf)]


def service_under_watchdog(
    conf: Path,
    *,
    missed: int = 10,
    grace: float = 2.0,
    startup: float = 90,
    emit: Emit | None = None,
) -> Supervisor:
    """The service of ``conf`` under a watchdog that beats every 0.2 s and restarts after
    0.1 s; ``missed`` beats make a freeze, ``grace`` and ``startup`` are the watchdog's."""
    return Supervisor(
        service_argv(conf),
        interval=0.2,
        missed=missed,
        grace=grace,
        startup=startup,
        emit=emit,
        restart_backoff=0.1,
    )


def outbox_events(path: Path) -> list[Event]:
    """Every event in the lab terminal's outbox at ``path``, oldest first."""
    box = Outbox(path, LAB_TID, LAB_MID)
    try:
        return box.peek(10_000)
    finally:
        box.close()


class BrokerEvents:
    """The events a terminal publishes on its events topic (one event or a JSON array of them
    a message), read off a client subscribed to it; every event read is kept in ``seen``."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client
        self._unread: list[dict[str, Any]] = []  # the rest of a message's array after a match
        self.seen: list[dict[str, Any]] = []

    async def wait_for(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next event ``pred`` accepts (wrap in ``asyncio.wait_for`` for a deadline)."""
        while True:
            while self._unread:
                ev = self._unread.pop(0)
                self.seen.append(ev)
                if pred(ev):
                    return ev
            async for msg in self._client.messages:
                assert isinstance(msg.payload, bytes)
                body = json.loads(msg.payload)
                self._unread.extend(body if isinstance(body, list) else [body])
                break
            else:
                raise AssertionError("broker stream ended")


def resumed_after_reboot(event: dict[str, Any]) -> bool:
    """The lifecycle event of a service that started again after a requested reboot."""
    data = event["data"]
    return bool(
        event["kind"] == "lifecycle"
        and data.get("event") == "resume"
        and data.get("reason") == "reboot"
    )


def process_alive(pid: int) -> bool:
    """``pid`` runs (a zombie, exited but not yet reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(pred: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``pred`` every 50 ms until it is true; AssertionError naming ``what`` after
    ``timeout`` seconds (the synchronous twin of ``posguard.common.testing.until``)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
