"""A real walk with the terminal doctor wired in: the host port is closed for real, the
doctor's TCP check fails with NET.CONNECT_REFUSED, and the escalation record carries it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from posguard.catalog.loader import default_catalog
from posguard.cli import app

doctor = pytest.importorskip("posguard.terminal.doctor")
from posguard.host.testing import terminal_seed  # noqa: E402
from posguard.terminal.config import HostEndpoint, TerminalConfig, Timeouts  # noqa: E402


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])  # closed again when the block ends


def test_walk_runs_the_doctor_check_and_hands_over_its_finding(tmp_path: Path) -> None:
    seed = terminal_seed("10000001")
    cfg = TerminalConfig(
        terminal_id="10000001",
        merchant_id=seed.mid,
        tmk=seed.tmk,
        hosts=[HostEndpoint(name="primary", host="127.0.0.1", port=_closed_port())],
        timeouts=Timeouts(dns=1.0, connect=1.0, read=1.0),
    )
    path = tmp_path / "terminal.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    steps = default_catalog()["NET.CONNECT_REFUSED"].steps
    at = next(i for i, s in enumerate(steps) if s.check == "doctor.tcp_connect")
    # Steps before the TCP check have no doctor runner: answer "done, not solved" to each,
    # then hand over at the step whose check failed.
    answers = "2\n" * at + "4\n"
    r = CliRunner().invoke(
        app,
        [
            "kb",
            "walk",
            "NET.CONNECT_REFUSED",
            "--lang",
            "en",
            "--config",
            str(path),
            "--record",
            str(tmp_path / "handover.json"),
        ],
        input=answers,
    )
    assert r.exit_code == 3, r.output
    assert "check doctor.tcp_connect: fail" in r.stdout
    record = json.loads((tmp_path / "handover.json").read_text(encoding="utf-8"))
    check = next(c for c in record["checks"] if c["check"] == "doctor.tcp_connect")
    assert check["result"] == "fail"
    assert check["step"] == at + 1  # numbered 1..N, as on screen
    assert f"{at + 1}/{len(steps)}" in r.stdout
    assert "NET.CONNECT_REFUSED" in check["detail"]
    assert record["answers"][-1]["answer"] == "escalate"
