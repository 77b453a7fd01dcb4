"""The health check of an installed version: ``<slot>/healthcheck`` run inside the slot.

It runs in its own process group (a new session), so when it gives no answer within
``timeout`` the whole group is killed -- a check that started helpers (a test runtime, a
shell pipeline) leaves nothing running behind it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class HealthResult:
    ok: bool
    detail: str


HealthCheck = Callable[[Path], HealthResult]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def process_health_check(timeout: float = 60.0, program: str = "healthcheck") -> HealthCheck:
    """Run ``<slot>/healthcheck`` (cwd = the slot); exit 0 within ``timeout`` means healthy."""

    def check(slot: Path) -> HealthResult:
        exe = slot / program
        if not exe.is_file():
            return HealthResult(False, f"{program} is missing from the package")
        try:
            proc = subprocess.Popen(  # noqa: S603
                [str(exe)],
                cwd=slot,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed whole on timeout
            )
        except OSError as exc:
            return HealthResult(False, f"{program} could not run: {exc}")
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            return HealthResult(False, f"{program} gave no answer within {timeout:g} s")
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        _kill_group(proc)  # helpers it left running in its group do not outlive the check
        tail = out.decode("utf-8", "replace").strip()[-300:]
        if proc.returncode != 0:
            return HealthResult(False, f"{program} exited {proc.returncode}: {tail}")
        return HealthResult(True, tail or "healthy")

    return check
