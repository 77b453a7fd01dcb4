"""The README's "From clone to first sale" runs as written: its commands, in its order, as
subprocesses against a real `posguard host serve` (on a free port instead of 5800, so runs do
not collide): the sale is approved and the journal shows it, card number masked."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from posguard.card import mask_pan

README = Path(__file__).resolve().parents[2] / "README.md"
POSGUARD = ".venv/bin/posguard"
SEQUENCE = [
    ("host", "serve"),
    ("host", "lab"),
    ("terminal", "init"),
    ("terminal", "sign-on"),
    ("terminal", "sale"),
    ("terminal", "journal"),
]


def readme_steps() -> list[list[str]]:
    """The shell lines of the README's first-sale block, comments dropped."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### From clone to first sale", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_readme_first_sale_runs_as_written(tmp_path: Path) -> None:
    steps = readme_steps()
    commands = [s for s in steps if s[0] == POSGUARD]
    assert [tuple(c[1:3]) for c in commands] == SEQUENCE
    assert steps[0][-1] == "&"
    assert steps[-1] == ["kill", "%1"]
    port = free_port()
    env = {**os.environ, "POSGUARD_LANG": "en", "COLUMNS": "80"}
    posguard = [sys.executable, "-m", "posguard.cli"]

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
        )

    serve = [*commands[0][1:-1], "--port", str(port)]  # the README's, without its '&'
    host = subprocess.Popen(
        posguard + serve, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert host.stdout is not None
        deadline, seen = time.monotonic() + 30, ""
        while "host listening on" not in seen and time.monotonic() < deadline:
            seen += host.stdout.readline()
            assert host.poll() is None, seen
        assert f"127.0.0.1:{port}" in seen, seen
        assert "var/host/host.db" in seen, seen

        out = {}
        for argv in commands[1:]:
            args = argv[1:]
            if tuple(args[:2]) == ("terminal", "init"):
                args = [*args, "--primary", f"127.0.0.1:{port}"]
            done = run(posguard + args)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            out[args[1]] = done.stdout

        sale = commands[SEQUENCE.index(("terminal", "sale"))]
        pan = sale[sale.index("--pan") + 1]
        assert out["sale"].startswith("approved sale 12.34"), out["sale"]
        assert "rc=00" in out["sale"]
        assert pan not in out["sale"]
        journal_rows = [ln for ln in out["journal"].splitlines() if mask_pan(pan) in ln]
        assert len(journal_rows) == 1, out["journal"]
        assert "sale" in journal_rows[0]
        assert "completed" in journal_rows[0]
        assert "12.34" in journal_rows[0]
        assert "00" in journal_rows[0]
        assert pan not in out["journal"]
        assert "cardholder: Approved" in out["sale"]
        # the same commands speak Chinese with --lang zh (the default without a LANG), labels
        # and all, and keep the values (codes, amounts, the masked card) as they are
        zh = run([*posguard, "terminal", "journal", "--lang", "zh"]).stdout
        assert "流水号" in zh, zh
        assert "金额" in zh, zh
        assert mask_pan(pan) in zh
        assert "STAN" not in zh
        # the README's card is one the lab lists as approving, not an invented number
        lab = json.loads(run([*posguard, "host", "lab", "--json"]).stdout)
        assert {"pan_masked": mask_pan(pan), "rc": "00"}.items() <= next(
            c for c in lab["cards"] if c["pan_masked"] == mask_pan(pan)
        ).items()
        assert (tmp_path / "var/host/host.db").exists()
        assert (tmp_path / "var/terminal/tmk.key").stat().st_mode & 0o077 == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]  # nothing at the root
    finally:
        host.send_signal(signal.SIGTERM)  # the README's `kill %1`
        rest, _ = host.communicate(timeout=30)
    assert host.returncode == 0, rest
    assert "host stopped" in rest
