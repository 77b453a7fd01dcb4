"""The machine-check registry: ids, texts and result meanings."""

from __future__ import annotations

import re

import pytest

from posguard.catalog.checks import CHECKS, CheckResult, is_registered

REQUIRED = [
    "doctor.dns",
    "doctor.tcp_connect",
    "doctor.tls_handshake",
    "doctor.iso_echo",
    "doctor.round_trip",
    "printer.status",
    "printer.test_print",
    "terminal.signed_on",
    "terminal.pending_reversals",
    "terminal.firmware_version",
    "terminal.config_valid",
    "fleet.recent_events",
    "fleet.host_health",
    "fleet.area_health",
]


def test_required_ids_are_registered() -> None:
    assert [c for c in REQUIRED if not is_registered(c)] == []


@pytest.mark.parametrize("check_id", sorted(CHECKS))
def test_each_check_says_what_its_results_mean(check_id: str) -> None:
    check = CHECKS[check_id]
    assert check.id == check_id
    assert re.fullmatch(r"(doctor|printer|terminal|fleet)\.[a-z][a-z_]+", check_id)
    assert check.meaning(CheckResult.PASS) is check.passes
    assert check.meaning(CheckResult.FAIL) is check.fails
    assert check.meaning(CheckResult.WARN) is check.warn
    assert check.meaning(CheckResult.UNAVAILABLE) is None
    assert check.passes.zh != check.fails.zh
    assert check.passes.en != check.fails.en


def test_result_values() -> None:
    assert {r.value for r in CheckResult} == {"pass", "warn", "fail", "unavailable"}
    assert [r for r in CheckResult if r.passed] == [CheckResult.PASS, CheckResult.WARN]


def test_unknown_ids_are_not_registered() -> None:
    for bad in ("os.system", "posguard.terminal.doctor:run", "", "DOCTOR.DNS"):
        assert not is_registered(bad)
