"""The terminal as a long-running service: the runtime plus everything around it, one process.

``posguard terminal run --config terminal.yaml`` starts it; run it under the watchdog with
``posguard terminal supervise --config terminal.yaml -- posguard terminal run --config
terminal.yaml`` (``--config`` gives the watchdog the terminal's outbox, so its DEV.FREEZE /
SW.CRASH reach the fleet; add ``--update-root`` for two-slot updates). On every start it
takes the terminal's runtime lock (one runtime per journal, outbox and print queue), then
*resumes* (an interrupted update is finished, the journal's crash recovery and pending
reversals / advices via ``Terminal.start()`` within ``resume_s``, then the receipts still
queued), then loops: a due catch-up of reversals and advices every ``catch_up_s`` (each
bounded by ``catch_up_timeout_s``), the print worker, the telemetry agent, remote
commands and the cash register's sales on a local Unix socket (``local_api.py``,
``posguard terminal sale --via-service``), so the terminal that is supervised is the one that
sells.

Liveness never depends on the network: the heartbeat to the watchdog comes from its own
task on the event loop, from before ``resume`` until the end, whatever I/O is in flight. It
stops only when the loop itself is blocked -- which is what the watchdog must catch. While
``resume`` runs (the journal's recovery is synchronous and may be long) the beats are marked
*resuming*, and the watchdog's ``startup`` deadline applies instead of ``missed`` beats. A
``reboot`` command ends the process with
:data:`~posguard.terminal.watchdog.RESTART_EXIT_CODE`, which the supervisor restarts without
reporting a crash.

The config file is the terminal's YAML plus optional top-level sections::

    printer: {kind: network, host: 192.168.1.50, port: 9100, profile: epson-tm-t88v-cn}
    agent:   {transport: mqtt, host: 127.0.0.1, port: 1883}   # or http: url + token
    # a production broker: {transport: mqtt, host: mqtt.example, port: 8883, tls: true,
    #                       ca_file: /etc/posguard/ca.pem, username: T0001, password: ...}
    service: {data_dir: /var/lib/posguard, catch_up_s: 30, update_root: /opt/posguard}

With an ``update_root`` and the fleet's ``agent.url`` + ``agent.token`` (over either
transport), the terminal runs the remote ``update`` command: the package is downloaded into
``<data_dir>/packages`` with that credential (``agent/package_fetch.py``), and the heartbeat's
``commands`` list then names ``update``; without them it does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from posguard import __version__
from posguard.common.errors import ConfigError, PosguardError
from posguard.common.events import EventKind
from posguard.terminal import config_push
from posguard.terminal.agent.commands import CommandDispatcher
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.agent.publish import HttpPublisher, MqttPublisher, Publisher
from posguard.terminal.agent.runner import TelemetryAgent
from posguard.terminal.doctor import CheckReport, DoctorConfig, arun_all
from posguard.terminal.local_api import SOCKET_NAME, LocalApi
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.printer.queue import PrintQueue, PrintWorker
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.runtime import Terminal
from posguard.terminal.runtime_lock import RuntimeLock
from posguard.terminal.service_commands import service_handlers
from posguard.terminal.service_config import (  # re-exported: their home before
    AgentSettings,
    ServiceConfig,
    ServiceSettings,
    load_service_config,
)
from posguard.terminal.update import SlotUpdater
from posguard.terminal.update_signature_fetch import SignedPackageFetcher
from posguard.terminal.watchdog import RESTART_EXIT_CODE, Heartbeat, StartReason
from posguard.terminal.wear import PRINTER_COUNTERS, CountingPort, WearStore

__all__ = [
    "AgentSettings",
    "ServiceConfig",
    "ServiceSettings",
    "TerminalService",
    "beat_forever",
    "load_service_config",
]

log = logging.getLogger("posguard.terminal.service")
T = TypeVar("T")


async def beat_forever(heartbeat: Heartbeat) -> None:
    """Beat twice an interval for as long as the event loop runs tasks."""
    while True:
        heartbeat.beat()
        await asyncio.sleep(heartbeat.interval / 2)


class TerminalService:
    """The runtime, its print queue, outbox, agent and command dispatcher, in one process."""

    def __init__(
        self, cfg: ServiceConfig, *, lock_wait: float = 5.0, config_path: Path | None = None
    ) -> None:
        self.cfg = cfg
        self.config_path = config_path  # given: the fleet may push parameters into it
        data = cfg.service.data_dir
        data.mkdir(parents=True, exist_ok=True)
        self.lock = RuntimeLock(data, wait=lock_wait)
        self.lock.acquire()  # before anything opens the journal, outbox or print queue
        try:
            self._open(cfg)
        except BaseException:
            self.lock.release()
            raise

    def _open(self, cfg: ServiceConfig) -> None:
        data = cfg.service.data_dir
        t = cfg.terminal
        self.outbox = Outbox(data / "outbox.db", t.terminal_id, t.merchant_id)
        self.wear = WearStore(data / "wear.db")  # heartbeat wear counters (terminal/wear.py)
        self.wear.feeds("boots", "watchdog_restarts")
        if cfg.service.local_api:
            self.wear.feeds("card_reads", "card_read_failures", "chip_fallbacks")
        self.queue: PrintQueue | None = None
        if cfg.printer is not None:
            renderer = ReceiptRenderer(load_profile(cfg.printer.profile))
            port = CountingPort(cfg.printer.open_port(), self.wear)
            self.wear.feeds(*PRINTER_COUNTERS)
            self.queue = PrintQueue(data / "print.db", port, renderer, self.outbox.emit)
        self.terminal = Terminal(
            t,
            emit=self.outbox.emit,
            print_receipt=self.queue.print_receipt if self.queue is not None else None,
        )
        self.updater = (
            SlotUpdater(
                cfg.service.update_root,
                emit=self.outbox.emit,
                trusted_keys=cfg.service.update_public_keys,
            )
            if cfg.service.update_root is not None
            else None
        )
        # the version that runs: the slot ``current`` named when this process started
        self.version = (self.updater.version() if self.updater is not None else None) or __version__
        self.exit_code = 0
        a = cfg.agent
        self.fetcher = (
            SignedPackageFetcher(a.url, a.token, data / "packages")
            if self.updater is not None and a.url and a.token
            else None
        )
        self._handlers = service_handlers(
            terminal=self.terminal,
            queue=self.queue,
            updater=self.updater,
            restart=self.request_restart,
            doctor=self.run_doctor,
            fetch_package=self.fetcher.fetch if self.fetcher is not None else None,
            config_path=self.config_path,
            live=self,
        )
        # the remote commands it runs, in each heartbeat: the fleet offers it no other
        self._commands = sorted(c.value for c in self._handlers)
        self._stop: asyncio.Event | None = None
        self._agent: TelemetryAgent | None = None

    def apply_live(self, cfg: ServiceConfig, keys: Sequence[str]) -> None:
        """Take a pushed config's live parameters (``config_push``): the receipt header and
        operator for the next transaction, the heartbeat interval from the next beat. The
        rest of ``cfg`` waits for the restart that follows."""
        t = self.cfg.terminal.model_copy(
            update={k: getattr(cfg.terminal, k) for k in keys if "." not in k}
        )
        agent = self.cfg.agent
        if "agent.heartbeat_s" in keys:
            agent = agent.model_copy(update={"heartbeat_s": cfg.agent.heartbeat_s})
            if self._agent is not None:
                self._agent.heartbeat_interval = agent.heartbeat_s
        self.cfg = self.cfg.model_copy(update={"terminal": t, "agent": agent})
        self.terminal.reconfigure(t)
        self._note(event="config_applied", keys=list(keys))

    def _publisher(self, on_command: Any) -> Publisher | None:
        a, t = self.cfg.agent, self.cfg.terminal
        if a.transport == "mqtt":
            return MqttPublisher(
                a.host,
                a.port,
                merchant_id=t.merchant_id,
                terminal_id=t.terminal_id,
                on_command=on_command,
                username=a.username,
                password=a.password,
                tls_context=a.tls_context(),
            )
        if a.transport == "http":
            if not a.url or not a.token:
                raise ConfigError("agent.transport http needs agent.url and agent.token")
            return HttpPublisher(a.url, a.token, terminal_id=t.terminal_id, on_command=on_command)
        return None

    def _heartbeat_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"firmware": self.version, "spec": self.cfg.terminal.spec}
        data.update(self._network_data())
        data["commands"] = self._commands
        data["config"] = config_push.reported(self.cfg)  # what a parameter push compares with
        if self.queue is not None:
            data["print_pending"] = len(self.queue.pending())
            status = self.queue.last_status
            data["printer"] = status.value if status is not None else "unknown"
        data["wear"] = self.wear.heartbeat()
        return data

    def _network_data(self) -> dict[str, Any]:
        """The heartbeat's network fields (``common.events``) and training mode, as far as the
        terminal knows them: link and carrier from the config, the last round trip to a host
        and whether it was a backup from the host link."""
        a = self.cfg.agent
        out: dict[str, Any] = {k: v for k, v in (("link", a.link), ("carrier", a.carrier)) if v}
        return out | self.terminal.heartbeat_fields()

    def _note(self, **data: Any) -> None:
        """A lifecycle event of the service; an outbox that cannot take it (locked, full) is
        logged, never a reason to stop serving."""
        try:
            self.outbox.emit(EventKind.LIFECYCLE, None, **data)
        except PosguardError:
            log.exception("service: lifecycle event %s not recorded", data.get("event"))

    def request_restart(self) -> None:
        self.exit_code = RESTART_EXIT_CODE
        if self._stop is not None:
            self._stop.set()

    async def resume(self, reason: StartReason) -> dict[str, int]:
        """Everything owed from before this start: journal recovery, reversals, advices, slips."""
        self._note(event="resume", reason=reason.value, version=self.version)
        self.wear.started(reason)
        if self.updater is not None:  # an update a crash interrupted: finish it (no check)
            started_on = self.updater.active_slot()
            await asyncio.to_thread(self.updater.recover)
            if self.updater.active_slot() != started_on:
                # ``current`` moved: this process is not what it names; restart on it (the
                # version reported meanwhile stays the one that runs)
                self.request_restart()
                return {}
        try:
            # journal recovery first (synchronous), then what is owed to the host: a host that
            # does not answer must not hold the service back; the loop's catch-up goes on
            recovered = await self._bounded(self.terminal.start(), self.cfg.service.resume_s)
        except TimeoutError:
            recovered = dict(self.terminal.recovered)
            self._note(
                event="resume_deferred",
                detail=f"host work not done within {self.cfg.service.resume_s:g} s; "
                "the catch-up goes on in the background",
            )
        if self.queue is not None:
            await asyncio.to_thread(self.queue.verify_profile)  # PRN.WRONG_PROFILE once, if so
            await asyncio.to_thread(self.queue.process)
        return recovered

    async def _catch_up(self) -> None:
        """The due reversals and advices, within ``catch_up_timeout_s``; the host link reports
        its own NET.* faults, and what is not sent stays owed for the next round."""
        limit = self.cfg.service.catch_up_timeout_s
        try:
            await self._bounded(self.terminal.catch_up(only_due=True), limit)
        except TimeoutError:
            log.warning("catch-up not finished within %g s; tried again next round", limit)

    async def _bounded(self, work: Coroutine[Any, Any, T], limit: float) -> T:
        """``work`` within ``limit`` seconds (else TimeoutError), cut short by a stop request
        (then TimeoutError too): a SIGTERM never waits for a host that does not answer."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._stop.wait() if self._stop else asyncio.sleep(limit))
        try:
            done, _ = await asyncio.wait(
                {task, stopping}, timeout=limit, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopping.cancel()
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise TimeoutError

    async def run_doctor(self) -> list[CheckReport]:
        """Every ``terminal doctor`` check against this terminal's own configuration; the ISO
        echo carries a MAC under the running session's key, as a sale does."""
        return await arun_all(
            DoctorConfig(
                terminal=self.cfg.terminal,
                printer=self.cfg.printer,
                mac_keys=self.terminal.mac_key_for,
            )
        )

    async def serve(self, heartbeat: Heartbeat, reason: StartReason) -> int:
        """Resume, then run until SIGTERM / SIGINT or a reboot command; returns the exit code."""
        self._stop = stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        beating = asyncio.create_task(beat_forever(heartbeat))
        try:
            return await self._serve(stop, reason, heartbeat)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            heartbeat.stopping()  # the process ends now: its teardown is not a freeze
            self.lock.release()

    async def _serve(self, stop: asyncio.Event, reason: StartReason, heartbeat: Heartbeat) -> int:
        loop = asyncio.get_running_loop()
        with heartbeat.resuming():  # journal recovery may block the loop: startup deadline
            await self.resume(reason)
        dispatcher = CommandDispatcher(
            self.cfg.service.data_dir / "commands.db", self._handlers, self.outbox.emit
        )
        publisher = self._publisher(dispatcher.handle)
        tasks: list[asyncio.Task[Any]] = []
        if publisher is not None:
            if isinstance(publisher, MqttPublisher):
                with contextlib.suppress(Exception):  # offline now: the agent retries
                    await asyncio.wait_for(publisher.connect(), 10)
            self._agent = agent = TelemetryAgent(
                self.outbox,
                publisher,
                heartbeat_interval=self.cfg.agent.heartbeat_s,
                heartbeat_data=self._heartbeat_data,
            )
            tasks.append(asyncio.create_task(agent.run(stop)))
        worker = PrintWorker(self.queue, self.cfg.service.print_poll_s) if self.queue else None
        if worker is not None:
            worker.start()
        local: LocalApi | None = None
        if self.cfg.service.local_api:
            local = LocalApi(
                self.terminal, self.cfg.service.data_dir / SOCKET_NAME, on_card=self.wear.card_read
            )
            await local.start()
        next_catch_up = loop.time() + self.cfg.service.catch_up_s
        try:
            while not stop.is_set():
                if loop.time() >= next_catch_up:
                    await self._catch_up()
                    next_catch_up = loop.time() + self.cfg.service.catch_up_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
        finally:
            stop.set()
            for task in tasks:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 10)
            if local is not None:
                await local.close()
            if worker is not None:
                worker.stop()
            await self.terminal.close()
            dispatcher.close()
            if self.fetcher is not None:
                await self.fetcher.close()
            self._note(event="stop", exit_code=self.exit_code)
            self.outbox.close()
            if self.queue is not None:
                self.queue.close()
            self.wear.close()
        return self.exit_code
