"""`posguard demo --keep-serving` as a person runs it: a real process plays the story, then
leaves the fleet service and dashboard up with the login printed; the dashboard shows the fee
change the story injected on the affected merchants' terminals; Ctrl-C stops it cleanly."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

LOGIN = re.compile(r"dashboard 管理台: (http://\S+)/ui/\s+user 用户 (\S+)\s+password 密码 (\S+)")


def _reader(stream: object, lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line)


def _wait_for(lines: queue.Queue[str], seen: list[str], pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"no line matching {pattern!r} in {timeout} s:\n{''.join(seen)[-3000:]}")


def test_keep_serving_leaves_the_dashboard_up_until_ctrl_c(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "posguard.cli",
            "demo",
            "--headless",
            "--keep-serving",
            "--out",
            str(out),
            "--duration",
            "10",
            "--terminals",
            "12",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    try:
        login = LOGIN.search(_wait_for(lines, seen, LOGIN.pattern, 150))
        assert login is not None
        base, user, password = login.groups()
        _wait_for(lines, seen, r"Ctrl-C to stop", 10)
        # the story is over and its report written, but the service still answers
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        assert "result 结论" in "".join(seen)  # the summary came before the login
        with httpx.Client(base_url=base, timeout=10) as client:
            health = client.get("/healthz")
            assert health.status_code == 200, health.text
            token = client.post("/api/v1/auth/token", data={"username": user, "password": password})
            assert token.status_code == 200, token.text
            auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
            assert client.get("/api/v1/auth/me", headers=auth).json()["username"] == user
            # the fee change of the story is in the fleet, on the raised merchants' terminals
            events = client.get(
                "/api/v1/events", params={"code": "REG.FEE_RATE_CHANGED"}, headers=auth
            ).json()
            raised = set(report["fee_audit"]["merchants_raised"])
            assert raised
            assert {e["merchant_id"] for e in events} == raised, events
            assert all(e["data"]["source"] == "fee_audit" for e in events), events
            # ... and on the dashboard: the terminal page of an affected terminal shows it
            page = client.get("/ui/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf is not None
            client.post(
                "/ui/login",
                data={
                    "username": user,
                    "password": password,
                    "csrf": csrf.group(1),
                    "next": "/ui/",
                },
            )
            terminal = client.get(f"/ui/terminals/{events[0]['terminal_id']}")
            assert terminal.status_code == 200
            assert "REG.FEE_RATE_CHANGED" in terminal.text
            assert "overcharged_yuan" in terminal.text  # the event's detail, shown beside it
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, "".join(seen)[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.2)
    while not lines.empty():
        seen.append(lines.get())
    output = "".join(seen)
    assert "fleet service and dashboard stopped / 管理服务与管理台已停止" in output
    assert "Traceback" not in output
    # stopped means stopped: nothing listens any more
    try:
        httpx.get(f"{base}/healthz", timeout=2)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("the fleet service still answers after Ctrl-C")
