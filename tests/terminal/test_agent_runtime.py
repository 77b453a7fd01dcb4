"""The runtime wired to the agent and the printer: a sale against the host simulator prints its
two slips on a fake network printer, its events land in the outbox, and remote commands run
through the real runtime (sign-on, settlement, reprint)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posguard.card import mask_pan
from posguard.common.events import EventKind
from posguard.host.seed import SeedData
from posguard.host.testing import running_host
from posguard.terminal.agent.commands import CommandDispatcher
from posguard.terminal.agent.handlers import command_handlers
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.config import Timeouts
from posguard.terminal.printer.ports import NetworkPort
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.printer.queue import PrintQueue
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.printer.status import PrinterStatus
from posguard.terminal.printer.testing import running_printer
from posguard.terminal.result import Outcome
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import (
    LAB_EXPIRY,
    LAB_MID,
    LAB_TID,
    lab_cards,
    lab_seed,
    local_config,
)

PAN = lab_cards()[0]


def _results(box: Outbox) -> dict[str, dict[str, Any]]:
    return {
        e.data["command_id"]: e.data for e in box.peek(1000) if e.kind is EventKind.COMMAND_RESULT
    }


async def test_sale_prints_emits_and_answers_remote_commands(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", LAB_TID, LAB_MID)
    renderer = ReceiptRenderer(load_profile("generic-80-gbk"))
    async with running_host(SeedData.model_validate(lab_seed())) as (_host, port, _ledger):
        with running_printer(PrinterStatus.PAPER_OUT) as printer:
            queue = PrintQueue(
                tmp_path / "print.db",
                NetworkPort(printer.host, printer.port, timeout=0.5),
                renderer,
                box.emit,
            )
            cfg = local_config(port, tmp_path / "j.db", timeouts=Timeouts(dns=1, connect=1, read=2))
            async with Terminal(cfg, emit=box.emit, print_receipt=queue.print_receipt) as term:
                r = await term.sale(PAN, LAB_EXPIRY, 2345)
                assert r.outcome is Outcome.APPROVED
                # paper out: the sale is done, both slips wait in the queue
                assert len(queue.pending()) == 2
                assert printer.printed() == b""
                printer.set_state(PrinterStatus.OK)
                assert queue.process().printed == 2
                slips = printer.printed()
                disp = CommandDispatcher(
                    tmp_path / "cmd.db",
                    command_handlers(runtime=term, print_queue=queue),
                    box.emit,
                )
                await disp.handle({"command_id": "c-sign", "command": "re_sign_on"})
                await disp.handle({"command_id": "c-reprint", "command": "reprint"})
                await disp.handle({"command_id": "c-settle", "command": "settle"})
                await disp.handle({"command_id": "c-roll", "command": "rollback"})
            queue.close()
    assert mask_pan(PAN).encode() in slips
    assert PAN.encode() not in slips
    assert b"RMB 23.45" in slips
    assert "商户存根".encode("gbk") in slips
    assert "持卡人存根".encode("gbk") in slips
    events = box.peek(1000)
    kinds = {e.kind for e in events}
    assert EventKind.TRANSACTION in kinds
    faults = [e.code for e in events if e.kind is EventKind.FAULT]
    cleared = [e.code for e in events if e.kind is EventKind.FAULT_CLEARED]
    assert "PRN.PAPER_OUT" in faults
    assert "PRN.PAPER_OUT" in cleared
    assert all(PAN not in e.model_dump_json() for e in events)
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    res = _results(box)
    assert res["c-sign"]["status"] == "ok"
    assert res["c-reprint"]["status"] == "ok"
    assert res["c-settle"]["status"] == "ok", res["c-settle"]
    assert "settled" in res["c-settle"]["detail"]
    assert res["c-roll"]["status"] == "failed"  # no updater on this terminal
    assert "not supported" in res["c-roll"]["detail"]
