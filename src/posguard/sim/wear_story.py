"""The demo's wearing printer: the fleet flags it for a visit before it fails.

Before the story starts, one terminal's last four weeks of daily heartbeats (wear counters,
``common.events.WearCounters``) go into the fleet through its ingest storage function: a
thermal printer whose overheats and cutter jams climb over its last eight days. The fleet's
prediction (``posguard.fleet.prediction``) is read at once: the terminal is on the area's
"visit before it fails" list, with its reasons. Late in the story the printer dies
(``PRN.HARDWARE_FAULT``): the report shows it was flagged first, and how long before.

The history is written newest day first, with the daily heartbeat interval, so the diagnosis
takes the newest for the terminal's liveness and reads the older ones as late resends (no
"heartbeat lost" for days long past), while each is the sample of its hour in the fleet's
heartbeat history, which the prediction reads. Its sequence numbers start at
:data:`HISTORY_SEQ`, far above any the terminal's own outbox reaches in a demo.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from posguard.fleet.context import FleetContext
from posguard.fleet.db.models import Terminal
from posguard.fleet.prediction.visit_list import predict
from posguard.sim.population import TerminalSpec

HISTORY_SEQ = 1_000_000_000
DAYS = 28
WEAR_DAYS = 8


@dataclass
class WearStory:
    terminal_id: str
    area: str
    flagged_at: str | None = None
    risk: float | None = None
    reasons: list[str] = field(default_factory=list)
    failed_at: str | None = None
    flagged_before_failure_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def history(spec: TerminalSpec, *, now: datetime, seed: int = 7) -> list[dict[str, Any]]:
    """One heartbeat a day (23:00 UTC, the last one an hour ago) for :data:`DAYS` days, newest
    first: ~2,400 lines a day; overheats and cutter jams rise with the square of the wear over
    the last :data:`WEAR_DAYS` days."""
    rng = np.random.default_rng(seed)
    totals = dict.fromkeys(
        ("printer_lines", "printer_cuts", "printer_paper_out", "printer_overheat"), 0
    )
    totals |= {"printer_cutter_jam": 0, "boots": 3, "watchdog_restarts": 0}
    snapshots: list[tuple[datetime, dict[str, int]]] = []
    for day in range(DAYS):
        ts = now - timedelta(hours=1) - timedelta(days=DAYS - 1 - day)
        wear = max(0, day - (DAYS - WEAR_DAYS)) / WEAR_DAYS
        lines = int(rng.normal(2400, 200))
        totals["printer_lines"] += lines
        totals["printer_cuts"] += lines // 19
        totals["printer_paper_out"] += int(rng.poisson(lines / 9000))
        totals["printer_overheat"] += int(rng.poisson((0.03 + 2.0 * wear**2) * lines / 1000))
        totals["printer_cutter_jam"] += int(rng.poisson((0.02 + 1.0 * wear**2) * lines / 1000))
        snapshots.append((ts, dict(totals)))
    return [
        {
            "v": 1,
            "terminal_id": spec.terminal_id,
            "merchant_id": spec.merchant_id,
            "seq": HISTORY_SEQ + i,
            "ts": ts.isoformat(),
            "kind": "heartbeat",
            "data": {"interval_s": 86_400, "wear": wear},
        }
        for i, (ts, wear) in enumerate(reversed(snapshots))
    ]


def _flag(ctx: FleetContext, story: WearStory, now: datetime) -> None:
    with ctx.sessions() as session:
        terminal = session.get(Terminal, story.terminal_id)
        if terminal is None:
            return
        (found,) = predict(session, terminals=[terminal], now=now)
    if found.due and found.risk is not None:
        story.flagged_at = now.isoformat()
        story.risk = found.risk.risk
        story.reasons = [r.text.en for r in found.reasons]


async def play(
    ctx: FleetContext,
    spec: TerminalSpec,
    *,
    fail_after_s: float,
    stop: asyncio.Event,
    say: Any,
) -> WearStory:
    """Write the history, read the prediction, then fail the printer after ``fail_after_s``
    (unless the story is stopped first)."""
    story = WearStory(spec.terminal_id, spec.area)
    now = datetime.now(UTC)
    await asyncio.to_thread(ctx.store.store, history(spec, now=now), transport="sim")
    await asyncio.to_thread(_flag, ctx, story, now)
    if story.flagged_at is not None:
        say(
            f"{spec.terminal_id} printer wearing: on the visit list of {spec.area} "
            f"(risk {story.risk:.0%}) / 打印机磨损，已列入上门清单"
        )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), fail_after_s)
    if stop.is_set():
        return story
    failed = datetime.now(UTC)
    fault = {
        "v": 1,
        "terminal_id": spec.terminal_id,
        "merchant_id": spec.merchant_id,
        "seq": HISTORY_SEQ + DAYS,
        "ts": failed.isoformat(),
        "kind": "fault",
        "code": "PRN.HARDWARE_FAULT",
        "data": {"state": "hardware_fault", "detail": "thermal head failed"},
    }
    await asyncio.to_thread(ctx.store.store, [fault], transport="sim")
    story.failed_at = failed.isoformat()
    if story.flagged_at is not None:
        story.flagged_before_failure_s = round((failed - now).total_seconds(), 1)
    say(f"{spec.terminal_id} printer failed (PRN.HARDWARE_FAULT) / 打印机损坏")
    return story
