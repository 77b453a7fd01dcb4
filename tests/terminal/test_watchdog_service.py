"""The real terminal service under the real watchdog: `posguard terminal run` as a child process
against the host simulator. It resumes a queued receipt on start; frozen with SIGSTOP it is
reported as DEV.FREEZE, killed, restarted and resumes; a reboot request restarts it without a
crash report; SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from posguard.common.events import Event, EventKind
from posguard.common.testing import until
from posguard.host.seed import SeedData
from posguard.host.testing import running_host
from posguard.terminal.agent.outbox import Outbox
from posguard.terminal.printer.ports import FilePort
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.printer.queue import PrintQueue
from posguard.terminal.printer.renderer import ReceiptRenderer
from posguard.terminal.printer.testing import sample_receipt
from posguard.terminal.testing import LAB_MID, LAB_TID, lab_seed, local_config
from posguard.terminal.watchdog import StartReason

from .service_rig import (
    CLI,
    BrokerEvents,
    outbox_events,
    process_alive,
    resumed_after_reboot,
    service_argv,
    service_under_watchdog,
)

RECEIPT = sample_receipt(
    merchant_name="Watchdog Mart",
    merchant_id=LAB_MID,
    terminal_id=LAB_TID,
    amount_minor=990,
    stan="000077",
    rrn="332910000077",
    auth_code="123456",
    ts=datetime(2026, 11, 25, 12, 0, 0),
)


def _lifecycle(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e.kind is EventKind.LIFECYCLE and e.data.get("event") == name]


async def test_service_freezes_is_restarted_and_resumes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    paper = tmp_path / "paper.bin"
    renderer = ReceiptRenderer(load_profile("generic-58-gbk"))
    q = PrintQueue(data / "print.db", FilePort(paper), renderer)
    q.enqueue(RECEIPT)  # left over from before the (simulated) power cut
    q.close()
    outbox_path = data / "outbox.db"
    async with running_host(SeedData.model_validate(lab_seed())) as (_host, port, _ledger):
        term = local_config(port, data / "journal.db").model_dump(mode="json")
        term["timeouts"] = {"dns": 1, "connect": 1, "read": 2}
        conf = tmp_path / "terminal.yaml"
        conf.write_text(
            yaml.safe_dump(
                {
                    **term,
                    "printer": {"kind": "file", "path": str(paper), "profile": "generic-58-gbk"},
                    "agent": {"transport": "none"},
                    "service": {"data_dir": str(data), "catch_up_s": 1, "print_poll_s": 0.2},
                }
            )
        )
        supervisor_box = Outbox(outbox_path, LAB_TID, LAB_MID)
        sup = service_under_watchdog(conf, missed=5, grace=1.0, emit=supervisor_box.emit)
        runner = asyncio.create_task(asyncio.to_thread(sup.run))
        try:
            await until(
                lambda: paper.exists() and paper.stat().st_size > 0,
                what="the queued slip",
                timeout=60,
                interval=0.1,
            )
            await until(
                lambda: len(_lifecycle(outbox_events(outbox_path), "resume")) == 1,
                what="resume",
                timeout=60,
                interval=0.1,
            )
            first = sup.child
            assert first is not None
            os.kill(first.pid, signal.SIGSTOP)  # the process hangs: no more heartbeats
            await until(
                lambda: any(
                    e.data.get("reason") == "freeze"
                    for e in _lifecycle(outbox_events(outbox_path), "resume")
                ),
                what="the restarted service to resume",
                timeout=60,
                interval=0.1,
            )
            await until(
                lambda: any(e.kind is EventKind.FAULT_CLEARED for e in outbox_events(outbox_path)),
                what="the freeze to clear",
                timeout=60,
                interval=0.1,
            )
            assert first.poll() is not None  # the frozen process is gone
        finally:
            sup.stop()  # SIGTERM: the service shuts down cleanly
            stats = await asyncio.wait_for(runner, 30)
            supervisor_box.close()
    events = outbox_events(outbox_path)
    assert stats.history == ["boot", "freeze"]
    assert stats.freezes == 1
    faults = [
        (e.kind, e.code) for e in events if e.kind in (EventKind.FAULT, EventKind.FAULT_CLEARED)
    ]
    assert faults == [(EventKind.FAULT, "DEV.FREEZE"), (EventKind.FAULT_CLEARED, "DEV.FREEZE")]
    assert [e.data["reason"] for e in _lifecycle(events, "resume")] == ["boot", "freeze"]
    assert len(_lifecycle(events, "start")) >= 2  # the runtime's own start (journal recovery)
    assert _lifecycle(events, "stop")[-1].data["exit_code"] == 0  # clean stop on SIGTERM
    assert paper.read_bytes() == renderer.render(RECEIPT)  # the slip came out once, whole
    seqs = [e.seq for e in events]
    assert len(set(seqs)) == len(seqs)  # two processes, one numbering


async def test_remote_reboot_over_mqtt_restarts_the_service_without_a_fault(
    tmp_path: Path, mqtt_broker: tuple[str, int]
) -> None:
    import json
    import uuid

    import aiomqtt

    from posguard.terminal.agent.publish import commands_topic, events_topic

    host, mport = mqtt_broker
    data = tmp_path / "data"
    tid = "R" + uuid.uuid4().hex[:7].upper()  # a fresh MQTT session per run
    async with running_host(SeedData.model_validate(lab_seed())) as (_host, port, _ledger):
        term = local_config(port, data / "journal.db").model_dump(mode="json")
        term["terminal_id"] = tid
        conf = tmp_path / "terminal.yaml"
        conf.write_text(
            yaml.safe_dump(
                {
                    **term,
                    "agent": {"transport": "mqtt", "host": host, "port": mport, "heartbeat_s": 60},
                    "service": {"data_dir": str(data), "catch_up_s": 5},
                }
            )
        )
        sup = service_under_watchdog(conf)
        async with aiomqtt.Client(host, mport, identifier=f"fleet-{tid}") as fleet:
            await fleet.subscribe(events_topic(LAB_MID, tid), qos=1)
            runner = asyncio.create_task(asyncio.to_thread(sup.run))
            published = BrokerEvents(fleet)
            wait_for = published.wait_for
            try:
                # the heartbeat at start proves the agent is connected and subscribed
                await asyncio.wait_for(wait_for(lambda e: e["kind"] == "heartbeat"), 60)
                cmd = {"command_id": "boot-1", "command": "reboot"}
                await fleet.publish(commands_topic(LAB_MID, tid), json.dumps(cmd), qos=1)
                ack = await asyncio.wait_for(wait_for(lambda e: e["kind"] == "command_result"), 30)
                again = await asyncio.wait_for(
                    wait_for(resumed_after_reboot),
                    60,
                )
            finally:
                sup.stop()
                stats = await asyncio.wait_for(runner, 30)
    assert ack["data"] == {"command_id": "boot-1", "status": "ok", "detail": "restarting in 1 s"}
    assert again["terminal_id"] == tid
    assert stats.history == ["boot", "reboot"]
    assert stats.crashes == 0
    assert not [e for e in published.seen if e["kind"] == "fault"]
    heartbeat = next(e for e in published.seen if e["kind"] == "heartbeat")
    assert heartbeat["data"]["firmware"]


async def test_black_holed_host_with_a_pending_reversal_never_freezes_the_service(
    tmp_path: Path,
) -> None:
    """Liveness never depends on the network: a reversal is owed, the host is black-holed
    (every read waits 2 s, a catch-up round takes several), the watchdog counts a hang after
    1 s of silence. The service keeps beating, reports the NET fault, and the reversal goes
    once the host is back."""
    from posguard.host.faults import Fault
    from posguard.host.testing import running_proxy
    from posguard.terminal.config import BreakerConfig, RetryConfig, Timeouts
    from posguard.terminal.journal import TxnState
    from posguard.terminal.result import Outcome
    from posguard.terminal.runtime import Terminal
    from posguard.terminal.testing import LAB_EXPIRY, lab_cards

    data = tmp_path / "data"
    data.mkdir()
    outbox_path = data / "outbox.db"
    async with (
        running_host(SeedData.model_validate(lab_seed())) as (_host, port, _ledger),
        running_proxy(port) as proxy,
    ):
        cfg = local_config(
            proxy.port,
            data / "journal.db",
            timeouts=Timeouts(dns=1, connect=1, read=2),
            breaker=BreakerConfig(open_seconds=0.5, max_open_seconds=1),
            retry=RetryConfig(base=0.2, cap=0.5, attempts_per_run=3),
        )
        async with Terminal(cfg) as term:
            assert (await term.sign_on()).rc == "00"
            proxy.set_fault(Fault(kind="blackhole"))
            owed = await term.sale(lab_cards()[0], LAB_EXPIRY, 4200)
        assert owed.outcome is Outcome.PENDING_REVERSAL
        conf = tmp_path / "terminal.yaml"
        conf.write_text(
            yaml.safe_dump(
                {
                    **cfg.model_dump(mode="json"),
                    "agent": {"transport": "none"},
                    "service": {
                        "data_dir": str(data),
                        "catch_up_s": 0.5,
                        "catch_up_timeout_s": 20,
                        "resume_s": 3,
                    },
                }
            )
        )
        box = Outbox(outbox_path, LAB_TID, LAB_MID)
        sup = service_under_watchdog(conf, missed=5, grace=1.0, startup=60, emit=box.emit)
        runner = asyncio.create_task(asyncio.to_thread(sup.run))
        try:
            await until(
                lambda: _lifecycle(outbox_events(outbox_path), "resume"), what="resume", timeout=60
            )
            await asyncio.sleep(8)  # several catch-up rounds into the black hole
            assert sup.stats.freezes == 0
            assert sup.stats.history == ["boot"]
            net = [e for e in outbox_events(outbox_path) if (e.code or "").startswith("NET.")]
            assert net, "the network fault is reported"
            assert net[0].kind is EventKind.FAULT
            proxy.clear()

            # the black hole swallowed the sale itself, so the host never had it: the
            # reversal is owed all the same, and acknowledged once the host is back
            await until(
                lambda: any(
                    e.kind is EventKind.REVERSAL
                    and e.data.get("stage") == "acknowledged"
                    and e.data.get("stan") == owed.stan
                    for e in outbox_events(outbox_path)
                ),
                what="the owed reversal to be acknowledged",
                timeout=30,
                interval=0.2,
            )
        finally:
            sup.stop()
            stats = await asyncio.wait_for(runner, 30)
            box.close()
    assert stats.freezes == 0
    assert stats.supervisor_exit_code == 0
    events = outbox_events(outbox_path)
    assert not [e for e in events if e.code == "DEV.FREEZE"]
    assert _lifecycle(events, "stop")[-1].data["exit_code"] == 0
    from posguard.terminal.journal.store import Journal

    journal = Journal.open(data / "journal.db", key=cfg.tmk_bytes, terminal_id=LAB_TID)
    try:
        rec = journal.find(stan=owed.stan or "")
        assert rec is not None
        assert rec.state is TxnState.REVERSED  # nothing lost: the owed reversal went
    finally:
        journal.close()


async def test_one_runtime_per_terminal_and_it_dies_with_its_supervisor(tmp_path: Path) -> None:
    """A second runtime on the same journal is refused in one line; kill -9 of the supervisor
    takes its runtime with it, so a new supervisor starts the only runtime; a runtime stopped
    behind the supervisor's back is reported and restarted; a clean stop exits 0."""
    import subprocess

    data = tmp_path / "data"
    outbox_path = data / "outbox.db"
    async with running_host(SeedData.model_validate(lab_seed())) as (_host, port, _ledger):
        term = local_config(port, data / "journal.db").model_dump(mode="json")
        conf = tmp_path / "terminal.yaml"
        conf.write_text(
            yaml.safe_dump(
                {**term, "agent": {"transport": "none"}, "service": {"data_dir": str(data)}}
            )
        )
        supervise = [
            *CLI,
            "terminal",
            "supervise",
            "--config",
            str(conf),
            "--interval",
            "0.2",
            "--",
        ]
        first = subprocess.Popen([*supervise, *service_argv(conf)])
        second: subprocess.Popen[bytes] | None = None
        try:
            await until(
                lambda: outbox_path.exists() and _lifecycle(outbox_events(outbox_path), "resume"),
                what="the first runtime",
                timeout=60,
                interval=0.2,
            )
            owner = int((data / "runtime.lock").read_text())
            intruder = await asyncio.to_thread(
                subprocess.run,
                service_argv(conf),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert intruder.returncode == 2
            assert f"another terminal runtime (pid {owner})" in intruder.stderr
            assert len(intruder.stderr.strip().splitlines()) == 1
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
            await until(lambda: not process_alive(owner), what="the orphan to die", timeout=5)
            second = subprocess.Popen([*supervise, *service_argv(conf)])
            await until(
                lambda: len(_lifecycle(outbox_events(outbox_path), "resume")) == 2,
                what="the new runtime",
                timeout=60,
                interval=0.2,
            )
            runtime = int((data / "runtime.lock").read_text())
            assert runtime != owner
            os.kill(runtime, signal.SIGTERM)  # to the runtime alone: it stops cleanly...
            await until(  # ...and, since nobody asked the supervisor, is restarted
                lambda: len(_lifecycle(outbox_events(outbox_path), "resume")) == 3,
                what="the runtime stopped behind the supervisor's back to be restarted",
                timeout=60,
                interval=0.2,
            )
            second.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(second.wait, 30) == 0
        finally:
            for p in (first, second):
                if p is not None and p.poll() is None:
                    p.kill()
                    p.wait()
    events = outbox_events(outbox_path)
    starts = [e for e in _lifecycle(events, "start") if "reason" in e.data]
    # the watchdog's own events, via --config
    assert [e.data["reason"] for e in starts] == ["boot", "boot", "crash"]
    faults = [e for e in events if e.kind is EventKind.FAULT]
    assert [(e.code, e.data["exit_code"]) for e in faults] == [("SW.CRASH", 0)]
    assert [e.data["exit_code"] for e in _lifecycle(events, "stop")] == [0, 0]
    seqs = [e.seq for e in events]
    assert len(set(seqs)) == len(seqs)


def test_heartbeat_reports_the_version_current_names(tmp_path: Path) -> None:
    """With a two-slot root the service reports the version it runs, not the package's own."""
    from posguard.terminal.service import TerminalService, load_service_config
    from posguard.terminal.update import SlotUpdater

    root = tmp_path / "firmware"
    up = SlotUpdater(root)
    (up.slot_dir("a") / "VERSION").write_text("7.1.0\n")
    conf = tmp_path / "terminal.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                **local_config(9, tmp_path / "journal.db").model_dump(mode="json"),
                "service": {"data_dir": str(tmp_path / "data"), "update_root": str(root)},
            }
        )
    )
    service = TerminalService(load_service_config(conf))
    try:
        assert service.version == "7.1.0"
        assert service._heartbeat_data()["firmware"] == "7.1.0"
        # the commands it has handlers for: a two-slot root adds rollback; no printer, no reprint
        commands = service._heartbeat_data()["commands"]
        assert commands == sorted(commands)
        assert {"re_sign_on", "settle", "reboot", "doctor", "rollback"} <= set(commands)
        assert ("reprint" in commands) == (service.queue is not None)
    finally:
        service.outbox.close()
        service.lock.release()


async def test_recovery_that_moves_current_restarts_the_service_on_it(tmp_path: Path) -> None:
    """Power went between recording the switch and making it: recovery finishes the switch,
    and the service (still the old code) asks to be restarted on the version now current,
    reporting its own version meanwhile."""
    from posguard.terminal.service import TerminalService, load_service_config
    from posguard.terminal.update import SlotUpdater
    from posguard.terminal.update_state import UpdateState, write_record
    from posguard.terminal.watchdog import RESTART_EXIT_CODE, Heartbeat

    root = tmp_path / "firmware"
    up = SlotUpdater(root)
    (up.slot_dir("a") / "VERSION").write_text("1.0.0\n")
    (up.slot_dir("b") / "VERSION").write_text("2.0.0\n")
    write_record(
        up.state_file,
        up.record().but(
            state=UpdateState.PROBATION,
            from_slot="a",
            to_slot="b",
            from_version="1.0.0",
            to_version="2.0.0",
            probation_s=30,
        ),
    )
    data = tmp_path / "data"
    conf = tmp_path / "terminal.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                **local_config(9, data / "journal.db").model_dump(mode="json"),
                "service": {"data_dir": str(data), "update_root": str(root)},
            }
        )
    )
    service = TerminalService(load_service_config(conf))
    code = await asyncio.wait_for(service.serve(Heartbeat(None, 0.2), StartReason.BOOT), 30)
    assert code == RESTART_EXIT_CODE
    assert up.active_slot() == "b"
    assert up.record().state is UpdateState.PROBATION  # the watchdog confirms it, later
    resume = _lifecycle(outbox_events(data / "outbox.db"), "resume")
    assert [e.data["version"] for e in resume] == ["1.0.0"]  # what this process was


async def test_service_keeps_serving_when_its_lifecycle_events_cannot_be_stored(
    tmp_path: Path,
) -> None:
    from posguard.terminal.agent.outbox import OutboxError
    from posguard.terminal.service import TerminalService, load_service_config
    from posguard.terminal.watchdog import Heartbeat

    data = tmp_path / "data"
    conf = tmp_path / "terminal.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                **local_config(9, data / "journal.db").model_dump(mode="json"),
                "service": {"data_dir": str(data), "local_api": False},
            }
        )
    )
    service = TerminalService(load_service_config(conf))
    tried: list[str] = []

    def locked(kind: EventKind | str, code: str | None = None, **data: Any) -> Event:
        tried.append(str(data.get("event")))
        raise OutboxError("event outbox write failed: database is locked")

    service.outbox.emit = locked  # type: ignore[method-assign]
    serving = asyncio.create_task(service.serve(Heartbeat(None, 0.2), StartReason.BOOT))
    await asyncio.sleep(1.0)
    assert not serving.done()  # resumed and serving, the failed write notwithstanding
    assert service._stop is not None
    service._stop.set()
    assert await asyncio.wait_for(serving, 30) == 0
    assert tried[0] == "resume"
    assert tried[-1] == "stop"
