"""The doctor's terminal checks: configuration consistency, journal storage, and reversals
waiting in a real journal left behind by a sale whose answer never came."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from posguard.catalog.checks import CheckResult
from posguard.host.faults import Fault
from posguard.host.seed import SeedData
from posguard.host.testing import running_host, running_proxy
from posguard.terminal.config import HostEndpoint, TerminalConfig, Timeouts
from posguard.terminal.doctor import DoctorConfig, PrinterSettings, arun_check, run_check
from posguard.terminal.result import Outcome
from posguard.terminal.runtime import Terminal
from posguard.terminal.testing import LAB_EXPIRY, lab_cards, lab_seed, local_config


def _doctor(term: TerminalConfig, printer: PrinterSettings | None = None) -> DoctorConfig:
    return DoctorConfig(terminal=term, printer=printer)


def _term(tmp_path: Path, *ports: int, name: str = "Shop") -> TerminalConfig:
    return TerminalConfig(
        terminal_id="T0000001",
        merchant_id="898310048990001",
        merchant_name=name,
        tmk="00" * 16,
        hosts=[HostEndpoint(name=f"h{i}", host="127.0.0.1", port=p) for i, p in enumerate(ports)],
        journal_path=tmp_path / "j" / "journal.db",
    )


def test_config_valid_finds_what_does_not_fit_together(tmp_path: Path) -> None:
    ok = run_check("terminal.config_valid", _doctor(_term(tmp_path, 5000, 5001)))
    assert ok.result is CheckResult.PASS
    same = run_check("terminal.config_valid", _doctor(_term(tmp_path, 5000, 5000)))
    assert same.result is CheckResult.FAIL
    assert same.code == "CFG.HOST_ADDRESS"
    assert "no real backup" in same.detail
    nameless = run_check("terminal.config_valid", _doctor(_term(tmp_path, 5000, name="")))
    assert nameless.result is CheckResult.WARN
    assert nameless.code == "CFG.MERCHANT_INFO"
    assert nameless.next_step is not None
    printer = PrinterSettings(kind="file", path=tmp_path / "lp0", profile="no-such-printer")
    bad = run_check("terminal.config_valid", _doctor(_term(tmp_path, 5000), printer))
    assert bad.code == "PRN.WRONG_PROFILE"
    assert "unknown printer profile" in bad.detail


def test_storage_writable_or_named_failure(tmp_path: Path) -> None:
    ok = run_check("terminal.storage", _doctor(_term(tmp_path, 5000)))
    assert ok.result in (CheckResult.PASS, CheckResult.WARN)  # WARN only on a nearly full disk
    assert "free" in ok.detail
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the journal directory should be")
    term = _term(tmp_path, 5000).model_copy(update={"journal_path": blocker / "journal.db"})
    bad = run_check("terminal.storage", _doctor(term))
    assert bad.result is CheckResult.FAIL
    assert bad.code == "SW.STORAGE_FULL"


async def test_pending_reversals_in_a_real_journal(tmp_path: Path) -> None:
    cfg_none = _doctor(_term(tmp_path, 5000))
    empty = await arun_check("terminal.pending_reversals", cfg_none)
    assert empty.result is CheckResult.PASS
    journal = tmp_path / "journal.db"
    async with (
        running_host(SeedData.model_validate(lab_seed())) as (_host, port, _ledger),
        running_proxy(port) as proxy,
    ):
        term = local_config(proxy.port, journal, timeouts=Timeouts(dns=1, connect=0.5, read=0.5))
        async with Terminal(term) as t:
            assert (await t.sale(lab_cards()[0], LAB_EXPIRY, 100)).outcome is Outcome.APPROVED
            proxy.set_fault(Fault(kind="blackhole"))  # the next answer never comes
            r = await t.sale(lab_cards()[0], LAB_EXPIRY, 700)
            assert r.outcome is not Outcome.APPROVED
    waiting = await arun_check("terminal.pending_reversals", _doctor(term))
    assert waiting.result is CheckResult.WARN
    assert waiting.code == "RECON.REVERSAL_PENDING"
    assert r.stan is not None
    assert r.stan in waiting.detail
    with sqlite3.connect(journal) as db:
        db.execute("UPDATE txns SET reversal_attempts = 7 WHERE state = 'reversal_pending'")
    stuck = await arun_check("terminal.pending_reversals", _doctor(term))
    assert stuck.result is CheckResult.FAIL
    assert "most tries 7" in stuck.detail
