"""Play a fault timeline on the full demo: each :class:`FaultKind` through the real mechanism.

================== ===============================================================
host_outage        the terminals' fault proxies drop new connects (their port's accept
                   queue held full, SYNs dropped): connect timeouts, nothing sent, the
                   terminals fail over to the backup front-end with no reversal
firewall_change    same, for one area's terminals
connection_refused the proxies close their port (ECONNREFUSED, nothing sent)
response_drop      the proxies forward requests and swallow the answers: the host
                   has acted, the terminals must reverse
paper_out          the virtual printers report paper end; slips wait in the queue
printer_cover_open the virtual printers report the cover open
issuer_outage      the host's ledger marks the BIN range unavailable (rc 91)
bad_firmware       a package whose health check fails is flashed: checked in the
                   inactive slot, never switched to, SW.UPDATE_FAILED
fee_rate_change    the acquirer quietly raises the rate of the targeted merchants;
                   the merchant fee audit runs on the settled batch at the end
================== ===============================================================
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from posguard.host.faults import Fault
from posguard.host.faults import FaultKind as ProxyFault
from posguard.host.server import HostServer
from posguard.sim.stats import DemoStats
from posguard.sim.timeline import FaultKind, TimelineEvent
from posguard.sim.virtual import VirtualTerminal, bad_firmware_package
from posguard.terminal.printer.status import PrinterStatus

log = structlog.get_logger("posguard.sim.inject")

_PROXY: dict[FaultKind, ProxyFault] = {
    FaultKind.HOST_OUTAGE: ProxyFault.DROP_CONNECT,
    FaultKind.FIREWALL_CHANGE: ProxyFault.DROP_CONNECT,
    FaultKind.CONNECTION_REFUSED: ProxyFault.REFUSE,
    FaultKind.RESPONSE_DROP: ProxyFault.DROP_RESPONSE,
}
_PRINTER: dict[FaultKind, PrinterStatus] = {
    FaultKind.PAPER_OUT: PrinterStatus.PAPER_OUT,
    FaultKind.PRINTER_COVER_OPEN: PrinterStatus.COVER_OPEN,
}
DEFAULT_ISSUER_BIN = "622848"


@dataclass
class Played:
    """One timeline event as it was played: who it hit and what the counters did meanwhile."""

    event: TimelineEvent
    terminals: list[str]
    started: float
    ended: float | None = None
    before: dict[str, Counter[str]] = field(default_factory=dict)
    delta: dict[str, dict[str, int]] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.ended is None


class FaultInjector:
    def __init__(
        self,
        terminals: list[VirtualTerminal],
        host: HostServer,
        workdir: Path,
        stats: DemoStats,
        *,
        seed: int = 1,
    ) -> None:
        self.terminals = terminals
        self.host = host
        self.workdir = workdir
        self.stats = stats
        self.rng = random.Random(seed)  # noqa: S311 - which shops a fault hits, reproducibly
        self.played: list[Played] = []
        self.fee_merchants: set[str] = set()

    def select(self, ev: TimelineEvent) -> list[VirtualTerminal]:
        tgt = ev.target
        hit = [
            vt
            for vt in self.terminals
            if (tgt.host is None or vt.spec.host == tgt.host)
            and (tgt.area is None or vt.spec.area == tgt.area)
            and (tgt.brand is None or vt.spec.brand == tgt.brand)
            and (tgt.model is None or vt.spec.model == tgt.model)
        ]
        if tgt.share < 1.0 and hit:
            k = max(1, round(len(hit) * tgt.share))
            hit = self.rng.sample(hit, k)
        return hit

    async def start(self, ev: TimelineEvent, now: float) -> Played:
        hit = self.select(ev)
        tids = [vt.tid for vt in hit]
        played = Played(ev, tids, now, before=self.stats.window(tids))
        self.played.append(played)
        kind = ev.fault
        self.stats.say(
            f"FAULT {kind.value} ({kind.code}) on {len(hit)} terminal(s) / 故障注入: {ev.note}"
        )
        log.info("fault start", fault=kind.value, code=kind.code, terminals=len(hit))
        if kind in _PROXY:
            # a closed port refuses and a dropping one times out at connect (nothing sent);
            # response_drop takes the request and swallows the answer
            hard = kind is FaultKind.CONNECTION_REFUSED
            for vt in hit:
                vt.proxy.set_fault(Fault(kind=_PROXY[kind], hard=hard))
        elif kind in _PRINTER:
            for vt in hit:
                vt.set_printer(_PRINTER[kind])
        elif kind is FaultKind.ISSUER_OUTAGE:
            prefix = ev.target.bin or DEFAULT_ISSUER_BIN
            played.detail["bin"] = prefix
            await self.host.call(lambda: self.host.ledger.set_issuer_unavailable(prefix, "91"))
        elif kind is FaultKind.BAD_FIRMWARE:
            pkg = bad_firmware_package(self.workdir / "packages")
            outcomes = await asyncio.gather(
                *(asyncio.to_thread(vt.flash_firmware, pkg) for vt in hit)
            )
            played.detail["update_outcomes"] = dict(Counter(o.outcome.value for o in outcomes))
        elif kind is FaultKind.FEE_RATE_CHANGE:
            self.fee_merchants |= {vt.spec.merchant_id for vt in hit}
            played.detail["merchants"] = sorted({vt.spec.merchant_id for vt in hit})
        return played

    async def end(self, played: Played, now: float) -> None:
        kind = played.event.fault
        hit = [vt for vt in self.terminals if vt.tid in set(played.terminals)]
        if kind in _PROXY:
            for vt in hit:
                vt.proxy.clear(_PROXY[kind])
        elif kind in _PRINTER:
            for vt in hit:
                vt.set_printer(PrinterStatus.OK)
        elif kind is FaultKind.ISSUER_OUTAGE:
            prefix = str(played.detail["bin"])
            await self.host.call(lambda: self.host.ledger.set_issuer_unavailable(prefix, None))
        played.ended = now
        self._close(played)
        self.stats.say(f"cleared {kind.value} / 故障解除")

    def _close(self, played: Played) -> None:
        after = self.stats.window(played.terminals)
        played.delta = {
            name: {k: v for k, v in (after[name] - played.before[name]).items() if v}
            for name in after
        }

    async def end_all(self, now: float) -> None:
        """End every fault still active (the timeline ran out or the demo was stopped)."""
        for played in self.played:
            if played.active:
                await self.end(played, now)
