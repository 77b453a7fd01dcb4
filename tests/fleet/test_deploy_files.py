"""The shipped deployment files work with this code: the systemd units and timers pass
``systemd-analyze verify``, every ``posguard`` command in the units and the compose file parses
with the real CLI (options that exist, values that validate), the network rollup runs hourly
both ways (issue 20), and every metric the alert rules and the Grafana dashboard use is one the
fleet exports."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from prometheus_client.metrics import MetricWrapperBase

from posguard.cli import app
from posguard.fleet import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
TIMERS = sorted((DEPLOY / "systemd").glob("*.timer"))
INSTALLED = "/opt/posguard/venv/bin/posguard"


def _parse(args: list[str]) -> None:
    """Resolve ``posguard <args>`` down to its command and parse its options, without running
    it; a wrong option or value raises a click error."""
    cmd: Any = typer.main.get_command(app)  # typer carries its own copy of click
    ctx = cmd.make_context("posguard", list(args), resilient_parsing=False)
    while hasattr(cmd, "resolve_command"):
        protected = getattr(ctx, "_protected_args", None) or ctx.protected_args
        name, sub, rest = cmd.resolve_command(ctx, [*protected, *ctx.args])
        assert sub is not None, name
        cmd = sub
        ctx = cmd.make_context(name, rest, parent=ctx)


def _unit_commands() -> list[list[str]]:
    out = []
    for unit in UNITS:
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                argv = shlex.split(line.removeprefix("ExecStart=").replace("%i", "1"))
                assert argv[0] == INSTALLED, unit.name
                out.append(argv[1:])
    return out


def _compose_commands() -> list[list[str]]:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return [
        list(svc["command"])
        for svc in doc["services"].values()
        if svc.get("image", "").startswith("posguard") and "command" in svc
    ]


def test_every_shipped_command_parses_with_the_cli() -> None:
    commands = _unit_commands() + _compose_commands()
    assert len(commands) == 9
    for argv in commands:
        _parse(argv)
    with pytest.raises(Exception, match="No such option: --wrokers"):
        _parse(["fleet", "serve", "--wrokers", "2"])  # the check can fail
    with pytest.raises(Exception, match="valid integer"):
        _parse(["fleet", "serve", "--workers", "many"])


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    posguard = Path(sys.executable).with_name("posguard")
    names = []
    for unit in UNITS + TIMERS:
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, str(posguard)))
        names.append(f"./{unit.name.replace('@.', '@1.')}")
    r = subprocess.run(
        [analyze, "verify", "--man=no", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    ours = [line for line in r.stderr.splitlines() if str(tmp_path) in line or "posguard" in line]
    assert ours == [], r.stderr  # an unknown key is only a warning: refuse it too


def _ini(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in path.read_text().splitlines() if re.match(r"^\w+=", line)
    )


def test_the_network_rollup_runs_hourly_from_systemd_and_compose(tmp_path: Path) -> None:
    """A timer starts the rollup service hourly (missed runs made up); compose, which has no
    timers, loops over the same command with an hour's sleep: the loop passes the command's
    arguments through unchanged (run here with ``posguard`` a stub that records them)."""
    timer = _ini(DEPLOY / "systemd" / "posguard-fleet-network-rollup.timer")
    service = DEPLOY / "systemd" / timer["Unit"]
    assert service in UNITS
    assert timer["OnCalendar"] == "*-*-* *:07:00"  # hourly, after the 5 minutes' grace
    assert timer["Persistent"] == "yes"
    argv = shlex.split(_ini(service)["ExecStart"])
    assert argv[1:4] == ["fleet", "maintenance", "network-rollup"]
    rollup = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["network-rollup"]
    assert rollup["command"] == argv[1:]  # the same command and options
    shell, flag, script, name = rollup["entrypoint"]
    assert "sleep 3600" in script
    stub = tmp_path / "posguard"
    stub.write_text('#!/bin/sh\nprintf "%s|" "$@" >> "$0.log"\n')
    stub.chmod(0o755)
    once = script.replace("$$", "$").replace("sleep 3600", "exit 0")  # compose unescapes $$
    r = subprocess.run(
        [shell, flag, once, name, *rollup["command"]],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "posguard.log").read_text() == "|".join(rollup["command"]) + "|"


def _exported() -> set[str]:
    names: set[str] = set()
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        for family in value.describe():
            base = family.name
            names.add(base)
            names.update(f"{base}{s}" for s in ("_total", "_bucket", "_count", "_sum"))
    return names


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(posguard_[a-z_]+)", expr))


def test_alert_rules_and_dashboard_use_exported_metrics() -> None:
    exported = _exported()
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dashboard = json.loads((DEPLOY / "grafana" / "posguard-fleet.json").read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set().union(*(_metric_names(e) for e in exprs))
    assert used - exported == set()
    # the liveness alert exists and compares the heartbeat's age with the loop's threshold
    stale = next(r for g in rules["groups"] for r in g["rules"] if r["alert"].endswith("Stale"))
    assert "posguard_fleet_loop_heartbeat_timestamp_seconds" in stale["expr"]
    assert "posguard_fleet_loop_stale_after_seconds" in stale["expr"]
    promtool = shutil.which("promtool")
    if promtool is not None:
        r = subprocess.run(
            [promtool, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert r.returncode == 0, r.stdout + r.stderr
