"""A virtual terminal: the real terminal runtime with every part a shop has, in one object.

Each one owns, under its own directory: the transaction journal, a durable print queue in
front of a dummy ESC/POS printer (whose paper can run out), the telemetry outbox and an agent
publishing it to the fleet over HTTP with the terminal's own credential, and a two-slot
firmware updater. Its primary host link goes through its *own* fault proxy (so a fault can hit
exactly the terminals a timeline targets); its backup goes through the shared backup front-end.

It answers the fleet's remote commands like a real terminal: the agent picks them up over HTTP
and the runtime's own handlers run them (re-sign-on, reprint, settle, rollback, doctor, and a
reboot that announces itself, signs on again and resumes), each acknowledged by a
``command_result`` event. Its heartbeat says how many receipts wait to print.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posguard.common.events import EventKind
from posguard.host.proxy import FaultProxy
from posguard.sim.cardbook import CardBook, terminal_tmk
from posguard.sim.population import Merchant, TerminalSpec
from posguard.sim.stats import DemoStats
from posguard.terminal.agent.commands import CommandDispatcher
from posguard.terminal.agent.handlers import command_handlers
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.agent.publish import HttpPublisher
from posguard.terminal.agent.runner import Backoff, TelemetryAgent
from posguard.terminal.config import (
    BreakerConfig,
    HostEndpoint,
    RetryConfig,
    TerminalConfig,
    Timeouts,
)
from posguard.terminal.doctor import DoctorConfig, arun_all
from posguard.terminal.printer.ports import DummyPort
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.printer.queue import PrintQueue
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.printer.status import PrinterStatus
from posguard.terminal.result import Outcome
from posguard.terminal.runtime import Terminal
from posguard.terminal.update import SlotUpdater, UpdateResult, process_health_check

log = logging.getLogger("posguard.sim.virtual")

KEY_DOMAIN = "cup"  # the demo acquirer's host system, whichever front-end answers
LOCAL = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Pace:
    """How the shop behaves: mean seconds between sales, share of sales voided afterwards."""

    mean_interval: float = 2.0
    void_share: float = 0.03
    heartbeat_s: float = 10.0
    command_poll_s: float = 2.0


class VirtualTerminal:
    def __init__(
        self,
        spec: TerminalSpec,
        merchant: Merchant,
        root: Path,
        *,
        upstream: tuple[str, int],
        backup_port: int,
        fleet_url: str,
        token: str,
        stats: DemoStats,
        book: CardBook,
        pace: Pace,
        seed: int,
        network: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.spec, self.merchant, self.root = spec, merchant, root
        self._network = network  # the link, carrier and signal its heartbeats report
        self.tid = spec.terminal_id
        root.mkdir(parents=True, exist_ok=True)
        self.proxy = FaultProxy(upstream)
        self._backup_port = backup_port
        self._fleet_url, self._token = fleet_url, token
        self.stats, self.book, self.pace = stats, book, pace
        self.rng = random.Random(seed)  # noqa: S311 - a shop's behaviour, not cryptography
        self.outbox = Outbox(root / "outbox.db", self.tid, spec.merchant_id)
        self.printer = DummyPort()
        self.queue = PrintQueue(
            root / "print.db",
            self.printer,
            ReceiptRenderer(load_profile("generic-80-gbk")),
            self.emit,
        )
        self.updater = SlotUpdater(root / "firmware", process_health_check(10.0), self.emit)
        factory = self.updater.slot_dir(self.updater.active_slot()) / "VERSION"
        if not factory.exists():
            factory.write_text(spec.firmware + "\n", encoding="utf-8")
        self.terminal: Terminal | None = None
        self.agent: TelemetryAgent | None = None
        self.dispatcher: CommandDispatcher | None = None
        self._agent_stop = asyncio.Event()
        self._agent_task: asyncio.Task[None] | None = None
        self._reboots: set[asyncio.Task[None]] = set()

    @property
    def merchant_id(self) -> str:
        return self.spec.merchant_id

    # -- telemetry ------------------------------------------------------------------------------

    def emit(self, kind: EventKind | str, code: str | None = None, **data: Any) -> object:
        """Write the event to the outbox (the agent sends it) and count it for the live view."""
        event = self.outbox.emit(kind, code, **data)
        self.stats.note(self.tid, event.kind.value, event.code, event.data)
        return event

    def _config(self, proxy_port: int) -> TerminalConfig:
        return TerminalConfig(
            terminal_id=self.tid,
            merchant_id=self.spec.merchant_id,
            merchant_name=self.merchant.name[:40],
            tmk=terminal_tmk(self.tid),
            # both are front-ends of the one host simulator and its key database: one sign-on
            # serves both, and failing over or back needs none (nor meets A0)
            hosts=[
                HostEndpoint(
                    name=self.spec.host, host=LOCAL, port=proxy_port, key_domain=KEY_DOMAIN
                ),
                HostEndpoint(
                    name="cup-backup", host=LOCAL, port=self._backup_port, key_domain=KEY_DOMAIN
                ),
            ],
            timeouts=Timeouts(dns=1.0, connect=0.8, read=1.5),
            breaker=BreakerConfig(open_seconds=3.0, max_open_seconds=10.0),
            retry=RetryConfig(base=0.2, factor=2.0, cap=2.0),
            journal_path=self.root / "journal.db",
        )

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.proxy.start()
        self.terminal = Terminal(
            self._config(self.proxy.port), emit=self.emit, print_receipt=self._print
        )
        await self.terminal.start()
        self.dispatcher = CommandDispatcher(
            self.root / "commands.db",
            command_handlers(
                runtime=self.terminal,
                print_queue=self.queue,
                updater=self.updater,
                reboot=self._reboot,
                doctor=self._doctor,
            ),
            self.emit,
        )
        publisher = HttpPublisher(
            self._fleet_url,
            self._token,
            terminal_id=self.tid,
            on_command=self.dispatcher.handle,
            timeout=5.0,
        )
        self.agent = TelemetryAgent(
            self.outbox,
            publisher,
            batch_size=200,
            idle_interval=0.5,
            backoff=Backoff(base=0.5, factor=2.0, cap=4.0, rng=random.Random(self.rng.random())),  # noqa: S311
            heartbeat_interval=self.pace.heartbeat_s,
            heartbeat_data=self._heartbeat_data,
            command_poll_interval=self.pace.command_poll_s,
        )
        self._agent_task = asyncio.create_task(self.agent.run(self._agent_stop))

    def _heartbeat_data(self) -> dict[str, Any]:
        """The runtime's own fields (the round trip and host of its last answer: measured on
        the real link) over the simulated link, carrier and signal (issue 20)."""
        runtime = self.terminal.heartbeat_fields() if self.terminal is not None else {}
        return {
            **(self._network() if self._network is not None else {}),
            **runtime,
            "firmware": self.updater.version() or "",
            "receipts_queued": len(self.queue.pending()),
        }

    async def _doctor(self) -> Any:
        return await arun_all(DoctorConfig(terminal=self._config(self.proxy.port), echo_count=1))

    def _reboot(self) -> None:
        """An operator's reboot: announce it, drop the session, sign on again, resume."""
        task = asyncio.get_running_loop().create_task(self._restart())
        self._reboots.add(task)
        task.add_done_callback(self._reboots.discard)

    async def _restart(self) -> None:
        self.emit(EventKind.LIFECYCLE, None, event="reboot", reason="remote command")
        await asyncio.sleep(1.0)
        if self.terminal is not None:
            with contextlib.suppress(Exception):  # an unreachable host: the next sale retries
                await self.terminal.sign_on()
        self.emit(EventKind.LIFECYCLE, None, event="resume", reason="reboot")

    def _amount(self) -> int:
        ticket = self.merchant.mean_ticket
        fen = self.rng.lognormvariate(math.log(ticket), 0.6)
        return max(100, min(int(fen), 2_000_000))

    async def shop(self, stop: asyncio.Event) -> None:
        """Customers pay until ``stop`` is set: sales, now and then a void of the last one."""
        assert self.terminal is not None
        while not stop.is_set():
            wait = self.rng.expovariate(1.0 / self.pace.mean_interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                break
            card = self.book.pick(self.rng)
            result = await self.terminal.sale(card.pan, card.expiry, self._amount())
            if (
                result.outcome is Outcome.APPROVED
                and result.stan
                and self.rng.random() < self.pace.void_share
            ):
                await self.terminal.void(result.stan)

    def _print(self, receipt: Any) -> int:
        try:
            return self.queue.print_receipt(receipt)
        except Exception:
            log.exception("terminal %s could not queue a receipt", self.tid)
            raise

    # -- faults ---------------------------------------------------------------------------------

    def set_printer(self, state: PrinterStatus) -> None:
        """The printer's state changes (paper runs out, cover opens, ...); the queue notices."""
        self.printer.state = state
        self.queue.process()

    def flash_firmware(self, package: Path) -> UpdateResult:
        return self.updater.apply(package)

    # -- the end --------------------------------------------------------------------------------

    async def finish(self, *, deadline: float) -> dict[str, Any]:
        """Send what is owed (reversals, advices), settle the batch; returns what happened."""
        assert self.terminal is not None
        loop = asyncio.get_running_loop()
        reversals = advices = -1
        while loop.time() < deadline:
            reversals, advices = await self.terminal.catch_up()
            if reversals == 0 and advices == 0:
                break
            await asyncio.sleep(0.3)
        settlement = await self.terminal.settle()
        self.queue.process()
        return {
            "reversals_left": reversals,
            "advices_left": advices,
            "settled": settlement.balanced,
            "settlement_code": settlement.code,
        }

    async def drain_telemetry(self, *, deadline: float) -> int:
        """Wait (bounded) until the agent has delivered the whole outbox; returns what is left."""
        loop = asyncio.get_running_loop()
        while self.outbox.pending() and loop.time() < deadline:
            await asyncio.sleep(0.1)
        return self.outbox.pending()

    async def close(self) -> None:
        self._agent_stop.set()
        if self._agent_task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._agent_task, 10)
        if self.terminal is not None:
            await self.terminal.close()
        for task in list(self._reboots):
            task.cancel()
        await self.proxy.stop()
        if self.dispatcher is not None:
            self.dispatcher.close()
        self.queue.close()
        self.outbox.close()


def bad_firmware_package(where: Path, version: str = "9.9.9-bad") -> Path:
    """A firmware package whose health check fails the way a bad rollout does."""
    pkg = where / f"firmware-{version}"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "VERSION").write_text(version + "\n", encoding="utf-8")
    check = pkg / "healthcheck"
    check.write_text(
        "#!/bin/sh\necho 'payment app exits at start: libemv.so.3 not found' >&2\nexit 1\n",
        encoding="utf-8",
    )
    check.chmod(0o755)
    return pkg
