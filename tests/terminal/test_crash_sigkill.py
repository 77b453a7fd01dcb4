"""Crash test: a terminal process running sales (some through faults) is killed with SIGKILL at
seeded random instants, several times; after each restart it recovers its journal and
finishes its reversals; at the end the host ledger and the journal reconcile with zero
differences and no account was charged for anything the terminal did not complete."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posguard.host.faults import Fault
from posguard.host.proxy import FaultProxy
from posguard.host.seed import SeedData
from posguard.host.testing import running_host, running_proxy
from posguard.terminal.config import RetryConfig, Timeouts
from posguard.terminal.journal import Journal, Kind, TxnState
from posguard.terminal.reconcile import reconcile
from posguard.terminal.testing import LAB_TID, lab_seed, local_config

SEED = 20261125
TARGET_SALES = 500
KILLS = 6

CHILD = r"""
import asyncio, json, random, sys, time
from posguard.terminal.config import TerminalConfig
from posguard.terminal.journal import Kind
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import LAB_EXPIRY, lab_cards

cfg = TerminalConfig.model_validate_json(sys.argv[1])
target, life = int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(life)
cards = lab_cards()[:3]

def print_receipt(_r):
    time.sleep(0.003)  # queueing the slip takes a moment: a kill here leaves "approved, not done"

async def main():
    async with Terminal(cfg, print_receipt=print_receipt) as t:
        pending = len(t.journal.pending_reversals())
        print(json.dumps({"event": "ready", "pending_after_start": pending,
                          "recovered": t.recovered}), flush=True)
        outcomes = {}
        while sum(1 for r in t.journal.records() if r.kind is Kind.SALE) < target:
            r = await t.sale(rng.choice(cards), LAB_EXPIRY, rng.randint(1, 99999))
            outcomes[r.outcome.value] = outcomes.get(r.outcome.value, 0) + 1
        for _ in range(200):
            if await t.catch_up() == (0, 0):
                break
            await asyncio.sleep(0.05)
        print(json.dumps({"event": "done", "outcomes": outcomes,
                          "pending": len(t.journal.pending_reversals())}), flush=True)

asyncio.run(main())
"""

FAULTS = [
    Fault(kind="drop_response", frames=1),
    Fault(kind="reset_mid_frame", frames=1),
    Fault(kind="delay", delay_ms=400, direction="response", frames=1),
    Fault(kind="corrupt", position=80, frames=1),
    Fault(kind="half_open", frames=1),
]


async def inject_faults(proxy: FaultProxy, rng: random.Random, stop: asyncio.Event) -> int:
    armed = 0
    while not stop.is_set():
        await asyncio.sleep(rng.uniform(0.8, 1.6))
        if not proxy.faults():
            proxy.set_fault(rng.choice(FAULTS))
            armed += 1
    proxy.clear()
    return armed


async def run_life(cmd: list[str], kill_after: float | None) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
    assert ready["event"] == "ready"
    # What start() could not send (the host had a fault at that instant) waits for the next
    # sale: it must never exceed what one crash can leave behind plus faults in flight.
    assert ready["pending_after_start"] <= 2
    if kill_after is not None:
        await asyncio.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 10)
        return {"killed": proc.returncode == -signal.SIGKILL, "recovered": ready["recovered"]}
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    await asyncio.wait_for(proc.wait(), 10)
    assert proc.returncode == 0
    return {**json.loads(line), "recovered": ready["recovered"]}


@pytest.fixture
def journal_dir(tmp_path: Path) -> Iterator[Path]:
    """A RAM disk when there is one: a SIGKILL does not lose the kernel's page cache, so fsync
    plays no part in what this test checks (it only makes 500 sales slower); power loss is the
    case fsync is for, and WAL with synchronous=FULL is what covers it."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    d = Path(tempfile.mkdtemp(prefix="posguard-crash-", dir=shm))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(110)
async def test_sigkill_during_sales_loses_nothing_and_charges_no_one_twice(
    journal_dir: Path,
) -> None:
    rng = random.Random(SEED)
    seed = SeedData.model_validate(lab_seed())
    t0 = time.perf_counter()
    async with running_host(seed) as (host, port, ledger), running_proxy(port) as proxy:
        cfg = local_config(
            proxy.port,
            journal_dir / "journal.db",
            timeouts=Timeouts(dns=1, connect=0.3, read=0.3),
            retry=RetryConfig(base=0.02, factor=2, cap=0.2),
        )
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        os.environ.update(env)
        stop = asyncio.Event()
        faults = asyncio.create_task(inject_faults(proxy, rng, stop))
        kills = 0
        recovered: dict[str, int] = {}
        for life in range(KILLS + 1):
            last = life == KILLS
            # A life that is to be killed sells without end, so the kill always lands mid-run
            # however fast the machine is; the last life tops the journal up to the target.
            target = TARGET_SALES if last else 10**9
            cmd = [sys.executable, "-c", CHILD, cfg.model_dump_json(), str(target), str(life)]
            result = await run_life(cmd, kill_after=None if last else rng.uniform(0.4, 2.0))
            kills += bool(result.get("killed"))
            for k, v in result["recovered"].items():
                recovered[k] = recovered.get(k, 0) + v
        final = result
        stop.set()
        armed = await faults

        journal = Journal.open(cfg.journal_path, key=cfg.tmk_bytes, terminal_id=LAB_TID)
        records = journal.records()
        journal.close()
        rows = await host.call(lambda: ledger.transactions(LAB_TID))
        account = await host.call(lambda: ledger.account("ACC-LAB"))

    sales = [r for r in records if r.kind is Kind.SALE]
    by_state: dict[str, int] = {}
    for r in sales:
        by_state[r.state.value] = by_state.get(r.state.value, 0) + 1
    reasons: dict[str, int] = {}
    for r in sales:
        if r.state is TxnState.REVERSED:
            key = f"{r.reversal_reason}:{r.code or 'crash'}"
            reasons[key] = reasons.get(key, 0) + 1
    differences = reconcile(rows, records)  # type: ignore[arg-type]
    charged = sum(r.amount for r in sales if r.state is TxnState.COMPLETED)
    summary = {
        "kills": kills,
        "sales": len(sales),
        "states": by_state,
        "reversed_by_reason": reasons,
        "found_unfinished_after_kills": recovered,
        "faults_armed": armed,
        "differences": len(differences),
        "seconds": round(time.perf_counter() - t0, 1),
        "last_life": final["outcomes"],
    }
    print("crash test:", json.dumps(summary))
    assert kills == KILLS
    assert len(sales) >= 500
    assert differences == []
    assert final["pending"] == 0
    assert 10**12 - account.balance == charged  # type: ignore[union-attr]
    assert len({r.stan for r in records}) == len(records)
    assert by_state.get("reversed", 0) > 0  # the crashes and faults did force reversals
