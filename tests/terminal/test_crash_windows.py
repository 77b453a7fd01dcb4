"""The two crash windows that matter, hit deterministically: killed while the answer is on its
way (the host approved: reversal 98 after restart) and killed after approval but before the
sale was completed on the terminal (reversal 96 after restart)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from posguard.host.faults import Fault
from posguard.host.proxy import FaultProxy
from posguard.host.seed import SeedData
from posguard.host.testing import running_host, running_proxy
from posguard.terminal.config import TerminalConfig, Timeouts
from posguard.terminal.journal import TxnState
from posguard.terminal.reconcile import reconcile
from posguard.terminal.result import Outcome
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import LAB_EXPIRY, LAB_TID, lab_cards, lab_seed, local_config

CHILD = r"""
import asyncio, os, signal, sys
from posguard.terminal.config import TerminalConfig
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import LAB_EXPIRY, lab_cards

cfg = TerminalConfig.model_validate_json(sys.argv[1])
die_in_print = sys.argv[2] == "print"

def print_receipt(_r):
    if die_in_print:
        os.kill(os.getpid(), signal.SIGKILL)  # power cut while the slip is being queued

async def main():
    async with Terminal(cfg, print_receipt=print_receipt) as t:
        await t.sign_on()
        print("ready", flush=True)
        sys.stdin.readline()  # "go"
        await t.sale(lab_cards()[0], LAB_EXPIRY, 4321)
        print("finished", flush=True)

asyncio.run(main())
"""


async def run_child(
    cfg: TerminalConfig, mode: str, kill_after: float | None, proxy: FaultProxy
) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        cfg.model_dump_json(),
        mode,
        stdout=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
    if mode == "wait":  # the host approves at once; the answer takes 3 s to come back
        proxy.set_fault(Fault(kind="delay", delay_ms=3000, direction="response", frames=1))
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    if kill_after is not None:
        await asyncio.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    return await asyncio.wait_for(proc.wait(), 30)


async def crash_then_restart(tmp_path: Path, mode: str, reason: str) -> None:
    async with (
        running_host(SeedData.model_validate(lab_seed())) as (host, port, ledger),
        running_proxy(port) as proxy,
    ):
        cfg = local_config(
            proxy.port, tmp_path / "j.db", timeouts=Timeouts(dns=1, connect=1, read=5)
        )
        rc = await run_child(cfg, mode, 1.0 if mode == "wait" else None, proxy)
        assert rc == -signal.SIGKILL
        rows = await host.call(lambda: ledger.transactions(LAB_TID))
        assert [(r.amount, r.status) for r in rows] == [(4321, "approved")]  # type: ignore[attr-defined]

        async with Terminal(cfg) as t:  # restart: recovery sends the reversal
            records = t.journal.records()
            assert [(r.state, r.reversal_reason, r.code) for r in records] == [
                (TxnState.REVERSED, reason, "SW.CRASH")
            ]
            again = await t.sale(lab_cards()[0], LAB_EXPIRY, 4321)  # the retry: a new STAN
            assert again.outcome is Outcome.APPROVED
            assert again.stan != records[0].stan
            rows = await host.call(lambda: ledger.transactions(LAB_TID))
            assert reconcile(rows, t.journal.records()) == []  # type: ignore[arg-type]
        account = await host.call(lambda: ledger.account("ACC-LAB"))
        assert 10**12 - account.balance == 4321  # type: ignore[union-attr]  # charged once


async def test_killed_while_waiting_for_the_answer(tmp_path: Path) -> None:
    await crash_then_restart(tmp_path, "wait", "98")


async def test_killed_after_approval_before_completion(tmp_path: Path) -> None:
    await crash_then_restart(tmp_path, "print", "96")
