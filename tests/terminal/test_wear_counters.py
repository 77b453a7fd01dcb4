"""The terminal's wear counters: what goes through a real printer link, the register's card
reads and the runtime's starts are counted, kept across restarts, and sent in the heartbeat in
the shared schema."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from posguard.common.errors import ConfigError
from posguard.common.events import EventKind, WearCounters, wear_of
from posguard.terminal.local_api import LocalApi
from posguard.terminal.printer.ports import NetworkPort
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.printer.queue import PrintQueue
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.printer.status import PrinterStatus
from posguard.terminal.printer.testing import running_printer, sample_receipt
from posguard.terminal.result import Outcome, TransactionResult
from posguard.terminal.service import AgentSettings, ServiceConfig, ServiceSettings, TerminalService
from posguard.terminal.testing import local_config
from posguard.terminal.watchdog import StartReason
from posguard.terminal.wear import CountingPort, WearStore, battery_pct

RENDERER = ReceiptRenderer(load_profile("generic-80-gbk"))  # a cutter: GS V per slip


def test_counters_survive_a_restart_and_refuse_unknown_names(tmp_path: Path) -> None:
    store = WearStore(tmp_path / "wear.db")
    store.started(StartReason.BOOT)
    store.started(StartReason.CRASH)
    store.started(StartReason.FREEZE)
    store.started(StartReason.REBOOT)  # asked for: not the watchdog's doing
    store.close()
    again = WearStore(tmp_path / "wear.db")
    assert again.snapshot() == {"boots": 4, "watchdog_restarts": 2}
    with pytest.raises(ConfigError, match="unknown wear counter 'printer_miles'"):
        again.add("printer_miles")
    with pytest.raises(ValueError, match="cannot add -1"):
        again.add("boots", -1)
    assert again.snapshot() == {"boots": 4, "watchdog_restarts": 2}
    again.close()


def test_a_real_printer_link_counts_lines_cuts_and_entered_faults(tmp_path: Path) -> None:
    store = WearStore(tmp_path / "wear.db")
    with running_printer() as printer:
        port = CountingPort(NetworkPort(printer.host, printer.port, timeout=0.5), store)
        queue = PrintQueue(tmp_path / "print.db", port, RENDERER)
        for stan in ("000001", "000002"):
            queue.print_receipt(sample_receipt(stan=stan))
        deadline = time.monotonic() + 5
        expected = b"".join(RENDERER.render(sample_receipt(stan=s)) for s in ("000001", "000002"))
        while printer.printed() != expected:
            assert time.monotonic() < deadline, "the slips never reached the printer"
            time.sleep(0.02)
        counts = store.snapshot()
        assert counts["printer_lines"] == expected.count(b"\n") > 20
        assert counts["printer_cuts"] == 2
        printer.set_state(PrinterStatus.OVERHEAT)
        assert port.status() is PrinterStatus.OVERHEAT
        assert port.status() is PrinterStatus.OVERHEAT  # still hot: the same episode
        printer.set_state(PrinterStatus.OK)
        port.status()
        printer.set_state(PrinterStatus.OVERHEAT)
        port.status()
        printer.set_state(PrinterStatus.PAPER_OUT)
        port.status()
        queue.close()
    assert store.snapshot()["printer_overheat"] == 2
    assert store.snapshot()["printer_paper_out"] == 1
    assert "printer_cutter_jam" not in store.snapshot()  # never seen: not reported as 0
    store.close()


def test_battery_from_the_power_supply_and_none_without(tmp_path: Path) -> None:
    assert battery_pct(tmp_path / "nothing-here") is None
    ac = tmp_path / "ps" / "AC"
    bat = tmp_path / "ps" / "BAT0"
    for d, kind in ((ac, "Mains"), (bat, "Battery")):
        d.mkdir(parents=True)
        (d / "type").write_text(kind + "\n")
    (bat / "capacity").write_text("87\n")
    assert battery_pct(tmp_path / "ps") == 87.0
    store = WearStore(tmp_path / "wear.db")
    store.add("boots")
    beat = store.heartbeat(tmp_path / "ps")
    assert beat == {"boots": 1, "battery_pct": 87.0}
    assert WearCounters.model_validate(beat).battery_pct == 87.0
    store.close()


async def test_the_registers_reader_tries_are_counted(tmp_path: Path) -> None:
    sales: list[tuple[object, ...]] = []

    class Till:
        async def sale(self, *a: object, **k: object) -> object:
            sales.append(a)
            return TransactionResult(outcome=Outcome.DECLINED, kind="sale", amount=5)

    store = WearStore(tmp_path / "wear.db")
    sock = tmp_path / "service.sock"
    api = LocalApi(Till(), sock, on_card=store.card_read)  # type: ignore[arg-type]
    await api.start()

    async def ask(req: dict[str, object]) -> dict[str, object]:
        reader, writer = await asyncio.open_unix_connection(str(sock))
        writer.write(json.dumps(req).encode() + b"\n")
        await writer.drain()
        answer: dict[str, object] = json.loads(await reader.readline())
        writer.close()
        return answer

    base = {"op": "sale", "pan": "6225880000000000", "expiry": "2912", "amount": 5}
    try:
        await ask(base)
        await ask({**base, "reader": {"failures": 2, "fallback": True}})
        bad = await ask({**base, "reader": {"failures": "many"}})
    finally:
        await api.close()
    assert bad == {"error": "reader.failures must be a whole number from 0 to 20"}
    assert len(sales) == 2  # the bad request sold nothing and counted nothing
    assert store.snapshot() == {"card_reads": 4, "card_read_failures": 2, "chip_fallbacks": 1}
    store.close()


def test_the_service_heartbeat_carries_the_counters(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cfg = ServiceConfig(
        terminal=local_config(5800, data / "journal.db"),
        agent=AgentSettings(transport="none"),
        service=ServiceSettings(data_dir=data),
    )
    svc = TerminalService(cfg)
    try:
        svc.wear.started(StartReason.CRASH)
        beat = svc._heartbeat_data()
        # no printer configured: no printer counters; the register's reader: counted from 0
        assert beat["wear"] == {
            "card_reads": 0,
            "card_read_failures": 0,
            "chip_fallbacks": 0,
            "boots": 1,
            "watchdog_restarts": 1,
        }
        event = svc.outbox.emit(EventKind.HEARTBEAT, **beat)  # the shared schema takes it
        assert wear_of(event.data) == WearCounters(**beat["wear"])
    finally:
        svc.wear.close()
        svc.outbox.close()
        svc.lock.release()
