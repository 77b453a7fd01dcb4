"""What the doctor tells people: sentences (zh/en) instead of exception text, each next step
once, "all hosts" only when every host failed, an ``ms`` column that agrees with the detail,
and a test slip cut the way the configured printer cuts."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from rich.console import Console

from posguard.catalog.checks import CheckResult
from posguard.common.testing import free_port
from posguard.host.seed import SeedData
from posguard.host.testing import running_host
from posguard.terminal.config import TerminalConfig, Timeouts
from posguard.terminal.doctor import (
    DoctorConfig,
    PrinterSettings,
    arun_all,
    arun_check,
    print_report,
    run_check,
)
from posguard.terminal.printer.renderer import CUT_FULL, CUT_PARTIAL
from posguard.terminal.printer.testing import running_printer
from posguard.terminal.testing import lab_seed, local_config

_EXCEPTION_WORDS = re.compile(r"Error|Errno|Exception|Traceback|\[Errno")


def _term(*ports: int) -> TerminalConfig:
    journal = Path(tempfile.mkdtemp(prefix="doctor-report-")) / "j.db"
    return local_config(list(ports), journal, timeouts=Timeouts(dns=1, connect=0.5, read=0.6))


async def test_a_failure_is_a_sentence_in_both_languages() -> None:
    report = await arun_check("doctor.tcp_connect", DoctorConfig(terminal=_term(free_port())))
    assert report.code == "NET.CONNECT_REFUSED"
    assert not _EXCEPTION_WORDS.search(report.sentence.en), report.sentence.en
    assert not _EXCEPTION_WORDS.search(report.sentence.zh), report.sentence.zh
    assert "refused" in report.sentence.en
    assert "拒绝连接" in report.sentence.zh
    assert report.to_json()["detail_zh"] == report.sentence.zh


def _rendered(reports: list, lang: str) -> str:
    console = Console(record=True, width=200)
    print_report(reports, console, lang)
    return console.export_text()


async def test_the_same_next_step_is_printed_once_and_details_follow_the_language() -> None:
    cfg = DoctorConfig(terminal=_term(free_port(), free_port()), echo_count=1)
    reports = await arun_all(cfg)
    refused = [r for r in reports if r.code == "NET.CONNECT_REFUSED"]
    assert len(refused) == 2  # both hosts' connect checks failed, with the same advice
    step = refused[0].next_step
    assert step is not None
    assert refused[1].next_step == step
    zh = _rendered(reports, "zh")
    assert zh.count(step["en"]) == 1
    assert zh.count(step["zh"]) == 1
    assert "拒绝连接" in zh
    en = _rendered(reports, "en")
    assert "refused the connection" in en
    assert "拒绝连接" not in en.split("next step")[0]  # the table's details are in English


async def test_all_hosts_only_when_every_host_failed() -> None:
    async with running_host(SeedData.model_validate(lab_seed())) as (_h, port, _l):
        dead = free_port()
        one_down = await arun_check("doctor.tcp_connect", DoctorConfig(terminal=_term(dead, port)))
        both_up = await arun_check("doctor.tcp_connect", DoctorConfig(terminal=_term(port, port)))
    all_down = await arun_check(
        "doctor.tcp_connect", DoctorConfig(terminal=_term(dead, free_port()))
    )
    assert one_down.result is CheckResult.WARN
    assert one_down.target == f"primary 127.0.0.1:{dead}"
    assert "backup host works" in one_down.detail
    assert both_up.result is CheckResult.PASS
    assert "all hosts" not in both_up.target
    assert all_down.result is CheckResult.FAIL
    assert all_down.target == "all hosts"


async def test_the_ms_column_is_the_figure_the_detail_gives() -> None:
    async with running_host(SeedData.model_validate(lab_seed())) as (_h, port, _l):
        cfg = DoctorConfig(terminal=_term(port), echo_count=3)
        checks = [
            await arun_check(c, cfg)
            for c in ("doctor.dns", "doctor.tcp_connect", "doctor.iso_echo", "doctor.round_trip")
        ]
    for report in checks:
        assert report.result is CheckResult.PASS, report.detail
        assert report.duration_ms is not None
        shown = f"{report.duration_ms:.0f} ms"
        assert shown in report.sentence.en, (report.check_id, shown, report.sentence.en)
        assert shown in report.sentence.zh, (report.check_id, shown, report.sentence.zh)


@pytest.mark.parametrize(
    ("model", "profile", "cut", "other"),
    [
        ("XP-80", "xprinter-xp80", CUT_FULL, CUT_PARTIAL),
        ("TM-T88V", "epson-tm-t88v-cn", CUT_PARTIAL, CUT_FULL),
    ],
)
def test_the_test_slip_is_cut_as_the_profile_says(
    model: str, profile: str, cut: bytes, other: bytes
) -> None:
    with running_printer(model_name=model) as printer:
        settings = PrinterSettings(
            kind="network", host=printer.host, port=printer.port, profile=profile, timeout=0.3
        )
        cfg = DoctorConfig(terminal=_term(1), printer=settings)
        report = run_check("printer.test_print", cfg)
        slip = printer.printed()
    assert report.result is CheckResult.PASS, report.detail
    assert cut in slip
    assert other not in slip
    assert "打印测试".encode("gbk") in slip
