"""The service's remote "run doctor" (``TerminalService.run_doctor``) against the host
simulator holding the terminal's session. UnionPay practice: once signed on, every message to
the host carries a MAC (field 64) under the session's MAC key, and the host answers A0 to one
without a valid MAC; the 0820/0830 echo (60.3 = 301, ISO 8583 network management) included.
So the doctor's echo must be MACed with the running session's key to pass, and a wrong key
must fail it."""

from __future__ import annotations

from pathlib import Path

from posguard.catalog.checks import CheckResult
from posguard.host.seed import SeedData
from posguard.host.testing import running_host
from posguard.terminal.doctor import DoctorConfig, arun_check
from posguard.terminal.service import ServiceConfig, ServiceSettings, TerminalService
from posguard.terminal.testing import LAB_TID, lab_seed, local_config


async def test_run_doctor_echo_passes_against_a_signed_on_host_with_a_mac(tmp_path: Path) -> None:
    async with running_host(SeedData.model_validate(lab_seed())) as (host, port, _ledger):
        terminal_cfg = local_config(port, tmp_path / "j.db")
        service = TerminalService(
            ServiceConfig(
                terminal=terminal_cfg,
                service=ServiceSettings(data_dir=tmp_path / "data", local_api=False),
            )
        )
        try:
            async with service.terminal:
                await service.terminal.sign_on()
                assert host.handler.sessions.get(LAB_TID) is not None  # the host holds it
                reports = {r.check_id: r for r in await service.run_doctor()}
                echo = reports["doctor.iso_echo"]
                assert (echo.result, echo.code) == (CheckResult.PASS, None), echo.detail
                answered = host.journal.query(tid=LAB_TID, mti="0820")
                assert answered
                assert {e.rc for e in answered} == {"00"}  # MAC verified: not A0
                # the check can fail: the same echo under a key the host did not issue
                wrong = await arun_check(
                    "doctor.iso_echo",
                    DoctorConfig(terminal_cfg, mac_keys=lambda _host: bytes(16)),
                )
                assert (wrong.result, wrong.code) == (CheckResult.FAIL, "TXN.MAC_ERROR")
                assert host.journal.query(tid=LAB_TID, mti="0820")[-1].rc == "A0"
        finally:
            service.outbox.close()
            service.lock.release()
