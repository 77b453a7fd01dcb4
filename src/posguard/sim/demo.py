"""`posguard demo`: the whole platform in one process, playing a fault story end to end.

One asyncio loop runs the acquirer host simulator (SQLite ledger), a backup front-end proxy,
the fleet service (SQLite, migrations, uvicorn on 127.0.0.1, diagnosis loop), and a few dozen
virtual terminals (the real runtime, each behind its own fault proxy, with a print queue, a
telemetry agent posting to the fleet over HTTP and a two-slot updater). The timeline's faults
are played through the real mechanisms (:mod:`posguard.sim.inject`); at the end every terminal
sends what it owes and settles, the host ledger is reconciled against every journal, the fee
audit runs on the settled batch, and a report is written next to the databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from posguard.common.errors import ConfigError
from posguard.common.logging import configure_logging
from posguard.host.proxy import FaultProxy
from posguard.host.server import HostConfig, HostServer
from posguard.sim.cardbook import CardBook, host_seed
from posguard.sim.fees import SettledSale, report_fee_changes, run_fee_audit
from posguard.sim.fleet_embed import DASHBOARD_USER, EmbeddedFleet, IncidentView, fleet_db_files
from posguard.sim.inject import FaultInjector, Played
from posguard.sim.light_feed import LightFeed
from posguard.sim.live import progress_line, render
from posguard.sim.network_model import NetworkModel
from posguard.sim.population import Estate, build_estate
from posguard.sim.report import DemoReport, incident_json, judge, scan_for_pans
from posguard.sim.stats import DemoStats
from posguard.sim.timeline import Timeline, load_timeline
from posguard.sim.virtual import Pace, VirtualTerminal
from posguard.sim.wear_story import WearStory
from posguard.sim.wear_story import play as play_wear_story
from posguard.terminal.reconcile import reconcile

log = logging.getLogger("posguard.sim.demo")


@dataclass(frozen=True, slots=True)
class DemoOptions:
    terminals: int = 24
    duration: float | None = None  # play the timeline in this many seconds (scaled)
    timeline: Path | None = None
    out: Path | None = None
    headless: bool = False
    seed: int = 11  # an estate where every target of the default story has terminals
    sale_interval: float | None = None  # mean seconds between a shop's sales
    light: int = 0  # light terminals for volume, their events stored straight into the fleet


Serve = Callable[[DemoReport, EmbeddedFleet], Awaitable[None]]
"""Called after the story with the report saved and the fleet service still up; the fleet
stops when it returns (``demo --keep-serving`` waits there for Ctrl-C)."""


def default_out_dir() -> Path:
    return Path("var") / f"demo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


def _timeline(opts: DemoOptions) -> Timeline:
    tl = load_timeline(opts.timeline)
    if opts.duration is not None and opts.duration != tl.duration:
        tl = tl.scaled(tl.duration / opts.duration)
    return tl


class _LogToFile:
    """Send every log record (masked by the shared chain) to ``path`` while the demo runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._saved: list[logging.Handler] = []
        self._level = logging.WARNING

    def __enter__(self) -> None:
        root = logging.getLogger()
        self._saved, self._level = list(root.handlers), root.level
        configure_logging(level="INFO", json=True)
        formatter = root.handlers[0].formatter
        handler = logging.FileHandler(self.path, encoding="utf-8")
        handler.setFormatter(formatter)
        root.handlers[:] = [handler]
        for noisy in ("httpx", "httpcore", "uvicorn.access", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        for h in root.handlers:
            h.close()
        root.handlers[:] = self._saved
        root.setLevel(self._level)


async def run_demo(
    opts: DemoOptions,
    *,
    stop: asyncio.Event | None = None,
    console: Console | None = None,
    serve: Serve | None = None,
) -> DemoReport:
    """Run the demo; returns (and saves as ``report.json`` in the out dir) its report. With
    ``serve``, the fleet service stays up after a story played to its end until ``serve``
    returns."""
    out = (opts.out or default_out_dir()).resolve()
    if (out / "fleet.db").exists() or (out / "host-ledger.db").exists():
        raise ConfigError(
            f"{out} already holds a demo run; choose another --out / 该目录已有演示数据，请换一个"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the demo directory {out}: {exc}") from exc
    with _LogToFile(out / "demo.log"):
        demo = _Demo(opts, out, stop or asyncio.Event(), console or Console())
        return await demo.run(serve)


class _Demo:
    def __init__(self, opts: DemoOptions, out: Path, stop: asyncio.Event, console: Console):
        self.opts, self.out, self.stop, self.console = opts, out, stop, console
        self.timeline = _timeline(opts)
        scale = 60.0 / max(self.timeline.duration, 1.0)
        interval = opts.sale_interval or max(0.5, 2.5 / max(1.0, scale))
        self.pace = Pace(mean_interval=interval, heartbeat_s=10.0)
        # One estate: the first terminals run the full runtime, the rest are light.
        whole = build_estate(terminals=opts.terminals + opts.light, seed=opts.seed)
        self.whole = whole
        self.estate = Estate(whole.merchants, whole.terminals[: opts.terminals], whole.seed)
        self.light_estate = Estate(whole.merchants, whole.terminals[opts.terminals :], whole.seed)
        self.light: LightFeed | None = None
        self.book = CardBook.default()
        self.stats = DemoStats()
        self.incidents: list[IncidentView] = []
        self.terminals: list[VirtualTerminal] = []

    async def run(self, serve: Serve | None = None) -> DemoReport:
        fleet = EmbeddedFleet(self.out / "fleet.db", heartbeat_s=int(self.pace.heartbeat_s))
        try:
            report = await self._story(fleet)
            if serve is not None and not report.stopped_early:
                await serve(report, fleet)
            return report
        finally:
            await fleet.stop()

    async def _story(self, fleet: EmbeddedFleet) -> DemoReport:
        loop = asyncio.get_running_loop()
        wall0 = time.perf_counter()
        host = HostServer(
            HostConfig(db=str(self.out / "host-ledger.db"), synchronous="NORMAL"),
            seed=host_seed(self.estate, self.book),
        )
        await host.start()
        backup = FaultProxy(("127.0.0.1", host.port))
        await backup.start()
        try:
            await asyncio.to_thread(fleet.prepare, self.whole)
            await fleet.start()
            self.stats.say(f"fleet service up at {fleet.base_url} / 管理服务已启动")
            if self.opts.headless:
                self.console.print(
                    f"dashboard 管理台: {fleet.dashboard_url} (user {DASHBOARD_USER} / "
                    f"password {fleet.password}) · out: {self.out}"
                )
            merchants = {m.merchant_id: m for m in self.estate.merchants}
            network = NetworkModel.for_estate(self.estate, seed=self.opts.seed)
            for i, spec in enumerate(self.estate.terminals):
                self.terminals.append(
                    VirtualTerminal(
                        spec,
                        merchants[spec.merchant_id],
                        self.out / "terminals" / spec.terminal_id,
                        upstream=("127.0.0.1", host.port),
                        backup_port=backup.port,
                        fleet_url=fleet.base_url,
                        token=fleet.tokens[spec.terminal_id],
                        stats=self.stats,
                        book=self.book,
                        pace=self.pace,
                        seed=self.opts.seed * 1000 + i,
                        network=partial(network.heartbeat_of, i),
                    )
                )
            await asyncio.gather(*(vt.start() for vt in self.terminals))
            self.stats.say(f"{len(self.terminals)} terminals open for business / 终端开始营业")
            injector = FaultInjector(
                self.terminals, host, self.out, self.stats, seed=self.opts.seed
            )
            t0_wall = time.time()
            t0 = loop.time()
            shopping = asyncio.Event()
            shops = [asyncio.create_task(vt.shop(shopping)) for vt in self.terminals]
            worn = (self.light_estate.terminals or self.estate.terminals)[-1]
            if self.light_estate.terminals:
                assert fleet.context is not None
                self.light = LightFeed(
                    self.light_estate,
                    self.timeline,
                    fleet.context.store,
                    seed=self.opts.seed,
                    quiet_wear=(worn.terminal_id,),  # the wear story sends its counters
                )
                shops.append(asyncio.create_task(self.light.run(self.stop)))
            viewer = asyncio.create_task(self._view(fleet, injector.played, t0))
            assert fleet.context is not None
            wearing = asyncio.create_task(
                play_wear_story(
                    fleet.context,
                    worn,
                    fail_after_s=0.8 * self.timeline.duration,
                    stop=self.stop,
                    say=self.stats.say,
                )
            )
            stopped_early = await self._play(injector, t0)
            shopping.set()
            self.stats.say("closing time: reversals, settlement, reconciliation / 打烊对账")
            await _bounded(asyncio.gather(*shops), 15)
            await injector.end_all(loop.time() - t0)
            deadline = loop.time() + 20
            finished = await asyncio.gather(
                *(vt.finish(deadline=deadline) for vt in self.terminals)
            )
            recon = await self._reconcile(host)
            fee = await self._fee_audit(host, injector.fee_merchants)
            report_fee_changes(fee, self.terminals)
            left = await asyncio.gather(
                *(vt.drain_telemetry(deadline=loop.time() + 15) for vt in self.terminals)
            )
            await asyncio.sleep(1.5)  # the diagnosis loop polls every 0.2 s: let it catch up
            wear_story: WearStory = await asyncio.wait_for(wearing, 30)
            self.incidents = await asyncio.to_thread(fleet.incidents)
            fleet_events = await asyncio.to_thread(fleet.event_counts)
            viewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await viewer
            reversals_left = sum(max(0, f["reversals_left"]) for f in finished)
            verdicts = [
                judge(
                    p,
                    self.incidents,
                    t0=t0_wall,
                    grace=10.0,
                    reversals_left=reversals_left,
                    fee=fee,
                )
                for p in injector.played
            ]
        finally:
            await asyncio.gather(*(vt.close() for vt in self.terminals), return_exceptions=True)
            await backup.stop()
            await host.stop()
        scan_files = [
            *fleet_db_files(self.out / "fleet.db"),
            *sorted(self.out.glob("host-ledger.db*")),  # the issuer keeps keyed hashes only
            self.out / "demo.log",
            *(p for vt in self.terminals for p in vt.root.glob("*.db")),
        ]
        report = DemoReport(
            out_dir=str(self.out),
            timeline=self.timeline.name,
            duration_s=self.timeline.duration,
            wall_s=round(time.perf_counter() - wall0, 2),
            stopped_early=stopped_early,
            terminals=len(self.terminals),
            dashboard_url=fleet.dashboard_url,
            transactions=dict(self.stats.outcomes),
            amount_approved_fen=self.stats.amount_approved,
            declines=dict(self.stats.declines),
            faults_seen=dict(self.stats.faults),
            reversals=dict(self.stats.reversals),
            reversals_left=reversals_left,
            faults=verdicts,
            incidents=[incident_json(i) for i in self.incidents],
            fleet_events=fleet_events,
            telemetry_left=sum(left),
            reconciliation=recon,
            light=self.light.summary() if self.light is not None else None,
            settlement={
                "terminals": len(finished),
                "balanced": sum(1 for f in finished if f["settled"]),
                "codes": dict(
                    Counter(str(f["settlement_code"]) for f in finished if not f["settled"])
                ),
            },
            fee_audit=fee,
            pan_scan=scan_for_pans(scan_files, self.book.pans()),
            databases={
                "fleet": str(self.out / "fleet.db"),
                "host_ledger": str(self.out / "host-ledger.db"),
                "terminals": str(self.out / "terminals"),
                "log": str(self.out / "demo.log"),
            },
            wear_story=wear_story.as_dict(),
        )
        report.save(self.out / "report.json")
        return report

    async def _play(self, injector: FaultInjector, t0: float) -> bool:
        """Start and end each timeline event on time; True when stopped before the end."""
        loop = asyncio.get_running_loop()
        played: dict[int, Played] = {}
        events = self.timeline.events
        while True:
            t = loop.time() - t0
            for i, ev in enumerate(events):
                if i not in played and ev.at <= t:
                    played[i] = await injector.start(ev, t)
                p = played.get(i)
                if p is not None and p.active and ev.until is not None and ev.until <= t:
                    await injector.end(p, t)
            if t >= self.timeline.duration:
                return False
            if self.stop.is_set():
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 0.1)

    async def _view(self, fleet: EmbeddedFleet, played: list[Played], t0: float) -> None:
        loop = asyncio.get_running_loop()
        if self.opts.headless:
            return

        def frame() -> Any:
            return render(
                self.stats,
                played,
                self.incidents,
                t=min(loop.time() - t0, self.timeline.duration),
                duration=self.timeline.duration,
                terminals=len(self.terminals),
                dashboard=fleet.dashboard_url,
                user=DASHBOARD_USER,
                password=fleet.password,
            )

        if not self.console.is_terminal:  # CI, `| tee`: a line every few seconds, not silence
            said: set[str] = set()  # the log's lines are time-stamped: new ones print once
            while True:
                with contextlib.suppress(Exception):  # a busy database never breaks the view
                    self.incidents = await asyncio.to_thread(fleet.incidents)
                for said_line in [s for s in self.stats.log if s not in said]:
                    self.console.print(said_line, soft_wrap=True, highlight=False, markup=False)
                    said.add(said_line)
                t = min(loop.time() - t0, self.timeline.duration)
                line = progress_line(
                    self.stats, played, self.incidents, t=t, duration=self.timeline.duration
                )
                self.console.print(line, soft_wrap=True, highlight=False)
                await asyncio.sleep(5.0)

        with Live(frame(), console=self.console, refresh_per_second=4, transient=False) as live:
            while True:
                with contextlib.suppress(Exception):  # a busy database never breaks the view
                    self.incidents = await asyncio.to_thread(fleet.incidents)
                live.update(frame())
                await asyncio.sleep(0.75)

    async def _reconcile(self, host: HostServer) -> dict[str, Any]:
        per: dict[str, int] = {}
        examples: list[str] = []
        host_rows = 0
        journal_rows = 0
        for vt in self.terminals:
            assert vt.terminal is not None
            rows: Any = await host.call(partial(host.ledger.transactions, vt.tid))
            records = vt.terminal.journal.records()
            host_rows += len(rows)
            journal_rows += len(records)
            diffs = reconcile(rows, records)
            if diffs:
                per[vt.tid] = len(diffs)
                examples.extend(f"{vt.tid}: {d!r}" for d in diffs[:3])
        # batch upload differences the host recorded for exception handling (差错): the ledger
        # is never rewritten by a settlement, so these are what is left to work through
        recorded: Any = await host.call(lambda: host.ledger.exceptions())
        return {
            "terminals": len(self.terminals),
            "host_rows": host_rows,
            "journal_rows": journal_rows,
            "differences": sum(per.values()),
            "exceptions": len(recorded),
            "exception_kinds": dict(Counter(e.kind.value for e in recorded)),
            "by_terminal": per,
            "examples": examples[:10],
        }

    async def _fee_audit(self, host: HostServer, raised: set[str]) -> dict[str, Any]:
        rows: Any = await host.call(lambda: host.ledger.transactions())
        sales = [
            SettledSale(f"{r.tid}-{r.batch}-{r.stan}", r.mid, r.pan_masked, r.amount)
            for r in rows
            if r.kind == "sale" and r.status == "approved" and r.amount > 0
        ]
        mcc_of = {m.merchant_id: m.mcc for m in self.whole.merchants}
        return run_fee_audit(sales, mcc_of, raised, settled_on=date.today())


async def _bounded(aw: Any, seconds: float) -> None:
    try:
        await asyncio.wait_for(aw, seconds)
    except TimeoutError:
        log.warning("shops did not close within %.0f s; their sales were cancelled", seconds)
