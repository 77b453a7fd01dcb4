"""The watchdog: a supervisor process that restarts a hung or crashed terminal runtime.

The runtime (the *child*) proves it is alive by calling :meth:`Heartbeat.beat` from
its main loop; each beat is one byte on a pipe inherited from the supervisor. When no
beat arrives for ``missed`` intervals the child is hung: the supervisor reports
``DEV.FREEZE``, stops the child (SIGTERM, then SIGKILL after a grace period) and
starts it again. Before its first beat a child gets ``startup`` seconds (imports,
``resume()``). A child that dies on its own with a non-zero status is reported as
``SW.CRASH`` and restarted the same way; status 0 is a clean shutdown and ends the
supervisor; status ``RESTART_EXIT_CODE`` (75) is a requested restart (remote reboot):
restarted at once, no fault. Restarts back off exponentially so a child that dies at once
does not spin.

Every start of the child goes through :func:`run_supervised`, which calls the
runtime's ``resume()`` hook first -- finish pending reversals, print queued receipts
-- and then its main loop. The child learns why it was started from the environment
(``POSGUARD_START_REASON``: ``boot``, ``freeze`` or ``crash``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from posguard.common.events import EventKind
from posguard.terminal.printer.queue import Emit

FD_ENV: Final = "POSGUARD_WATCHDOG_FD"
INTERVAL_ENV: Final = "POSGUARD_WATCHDOG_INTERVAL"
REASON_ENV: Final = "POSGUARD_START_REASON"
RESTART_EXIT_CODE: Final = 75  # the child asks to be restarted (remote reboot): not a crash
RESTARTS_ENV: Final = "POSGUARD_RESTARTS"


class StartReason(StrEnum):
    BOOT = "boot"
    FREEZE = "freeze"
    CRASH = "crash"
    REBOOT = "reboot"  # the child exited with RESTART_EXIT_CODE


class Heartbeat:
    """The child's side: ``beat()`` from the main loop, at least once per interval."""

    def __init__(self, fd: int | None, interval: float) -> None:
        self._fd = fd
        self.interval = interval
        self.beats = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Heartbeat:
        """The heartbeat the supervisor set up; a no-op one when not supervised."""
        env = os.environ if environ is None else environ
        fd = env.get(FD_ENV)
        return cls(int(fd) if fd else None, float(env.get(INTERVAL_ENV, "1.0")))

    @property
    def supervised(self) -> bool:
        return self._fd is not None

    def beat(self) -> None:
        self.beats += 1
        if self._fd is None:
            return
        try:
            os.write(self._fd, b".")
        except BlockingIOError:
            pass  # the supervisor is behind on reading; it has seen us alive anyway
        except OSError:
            self._fd = None  # the supervisor is gone; keep running unsupervised


def start_reason(environ: Mapping[str, str] | None = None) -> StartReason:
    env = os.environ if environ is None else environ
    try:
        return StartReason(env.get(REASON_ENV, "boot"))
    except ValueError:
        return StartReason.BOOT


def run_supervised(
    main: Callable[[Heartbeat], Any],
    resume: Callable[[StartReason], Any],
    environ: Mapping[str, str] | None = None,
) -> Any:
    """The child's entry point: ``resume(reason)`` first, then ``main(heartbeat)``."""
    heartbeat = Heartbeat.from_env(environ)
    resume(start_reason(environ))
    heartbeat.beat()
    return main(heartbeat)


@dataclass
class SupervisorStats:
    starts: int = 0
    freezes: int = 0
    crashes: int = 0
    exit_code: int | None = None
    history: list[str] = field(default_factory=list)


def _no_emit(kind: EventKind, code: str | None = None, **data: Any) -> object:
    return None


class Supervisor:
    """Starts ``argv`` as a child, watches its heartbeat, restarts it when it hangs or dies."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        interval: float = 1.0,
        missed: int = 3,
        grace: float = 5.0,
        startup: float = 30.0,
        emit: Emit | None = None,
        max_restarts: int | None = None,
        restart_backoff: float = 0.5,
        restart_backoff_cap: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if interval <= 0 or missed < 1:
            raise ValueError("watchdog interval must be > 0 and missed >= 1")
        self.argv = list(argv)
        self.interval = interval
        self.missed = missed
        self.grace = grace
        self.startup = max(startup, interval * missed)
        self._emit: Emit = emit or _no_emit
        self.max_restarts = max_restarts
        self.restart_backoff = restart_backoff
        self.restart_backoff_cap = restart_backoff_cap
        self._env = dict(os.environ if env is None else env)
        self.stats = SupervisorStats()
        self._stopping = False
        self.child: subprocess.Popen[bytes] | None = None

    @property
    def hang_after(self) -> float:
        """Seconds of silence that count as a hang."""
        return self.interval * self.missed

    def stop(self) -> None:
        """Ask the supervisor to stop the child and return (e.g. from a signal handler)."""
        self._stopping = True

    def _spawn(self, reason: StartReason) -> tuple[subprocess.Popen[bytes], int]:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        env = dict(self._env)
        env.update(
            {
                FD_ENV: str(write_fd),
                INTERVAL_ENV: str(self.interval),
                REASON_ENV: reason.value,
                RESTARTS_ENV: str(self.stats.starts),
            }
        )
        try:
            child = subprocess.Popen(self.argv, env=env, pass_fds=(write_fd,))  # noqa: S603
        finally:
            os.close(write_fd)
        self.stats.starts += 1
        self.stats.history.append(reason.value)
        self._emit(
            EventKind.LIFECYCLE,
            None,
            event="start",
            reason=reason.value,
            pid=child.pid,
            starts=self.stats.starts,
        )
        return child, read_fd

    def _terminate(self, child: subprocess.Popen[bytes]) -> None:
        if child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(self.grace)
        except subprocess.TimeoutExpired:
            child.kill()  # a hung process may ignore SIGTERM
            child.wait(self.grace)

    def _watch(
        self,
        child: subprocess.Popen[bytes],
        read_fd: int,
        on_alive: Callable[[], object] | None = None,
    ) -> StartReason | None:
        """Block until the child hangs (FREEZE), dies (CRASH) or exits cleanly (None).

        ``on_alive`` is called once, at the child's first heartbeat."""
        last_beat = time.monotonic()
        allowed = self.startup  # imports and resume() run before the first beat
        while not self._stopping:
            timeout = max(0.0, last_beat + allowed - time.monotonic())
            ready, _, _ = select.select([read_fd], [], [], min(timeout, self.interval))
            if ready:
                data = os.read(read_fd, 4096)
                if data:
                    last_beat = time.monotonic()
                    allowed = self.hang_after
                    if on_alive is not None:
                        on_alive()
                        on_alive = None
                    continue
                # EOF: the child closed its end, i.e. it has exited
                code = child.wait()
                return self._exited(code)
            code_now = child.poll()
            if code_now is not None:
                return self._exited(code_now)
            silent = time.monotonic() - last_beat
            if silent >= allowed:
                self.stats.freezes += 1
                self._emit(
                    EventKind.FAULT,
                    "DEV.FREEZE",
                    pid=child.pid,
                    silent_s=round(silent, 2),
                    missed_beats=self.missed,
                    interval_s=self.interval,
                )
                self._terminate(child)
                return StartReason.FREEZE
        self._terminate(child)
        return None

    def _exited(self, code: int) -> StartReason | None:
        self.stats.exit_code = code
        if code == 0 or self._stopping:
            return None
        if code == RESTART_EXIT_CODE:
            return StartReason.REBOOT
        self.stats.crashes += 1
        self._emit(EventKind.FAULT, "SW.CRASH", exit_code=code)
        return StartReason.CRASH

    def run(self) -> SupervisorStats:
        """Supervise until the child exits cleanly, ``stop()`` is called or restarts run out."""
        reason: StartReason | None = StartReason.BOOT
        restarts = 0
        open_fault: str | None = None
        while reason is not None and not self._stopping:
            child, read_fd = self._spawn(reason)
            self.child = child
            # the fault is over once the new child proves it is alive
            on_alive = (
                None
                if open_fault is None
                else functools.partial(
                    self._emit, EventKind.FAULT_CLEARED, open_fault, pid=child.pid
                )
            )
            try:
                reason = self._watch(child, read_fd, on_alive)
            finally:
                os.close(read_fd)
            if reason is None:
                break
            if reason is StartReason.REBOOT:
                open_fault = None
                self._sleep(self.restart_backoff)
                continue
            open_fault = "DEV.FREEZE" if reason is StartReason.FREEZE else "SW.CRASH"
            restarts += 1
            if self.max_restarts is not None and restarts > self.max_restarts:
                self._emit(
                    EventKind.LIFECYCLE, None, event="supervisor_gave_up", restarts=restarts - 1
                )
                break
            delay = min(self.restart_backoff_cap, self.restart_backoff * 2 ** (restarts - 1))
            self._sleep(delay)
        return self.stats

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < end:
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))


def install_signal_handlers(supervisor: Supervisor) -> None:
    """SIGTERM / SIGINT to the supervisor stop the child cleanly."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError):  # not in the main thread
            signal.signal(sig, lambda *_: supervisor.stop())
