"""The watchdog: a supervisor process that restarts a hung or crashed terminal runtime.

The runtime (the *child*) proves it is alive by calling :meth:`Heartbeat.beat` from
its main loop; each beat is one byte on a pipe inherited from the supervisor. When no
beat arrives for ``missed`` intervals the child is hung: the supervisor reports
``DEV.FREEZE``, stops the child (SIGTERM, then SIGKILL after a grace period) and
starts it again. Before its first beat a child gets ``startup`` seconds (imports,
``resume()``). A child that dies on its own with a non-zero status is reported as
``SW.CRASH`` and restarted the same way; status 0 is a clean shutdown and ends the
supervisor (with ``restart_on_clean_exit``, as ``supervise`` runs the terminal service, a
stop the supervisor did not ask for is a ``SW.CRASH`` too, and restarted); status
``RESTART_EXIT_CODE`` (75) is a requested restart (remote reboot): restarted at once, no
fault. Restarts back off exponentially so a child that dies at once
does not spin; the backoff starts again once a child has run healthy for ``healthy_s``.
``crash_limit`` crashes or freezes within ``crash_window`` seconds end the supervisor in a
final state (``SW.CRASH_LOOP``, a message on stderr saying what to do), instead of a loop
that never ends.

One runtime per terminal: the child runs in its own process group (a freeze kills the whole
group) and is sent SIGKILL by the kernel if the supervisor dies (``PR_SET_PDEATHSIG``), so a
killed supervisor leaves no orphan to race a new one on the journal. The supervisor's own
event writes (``emit``) may fail -- an outbox locked or full -- and are then logged: the
supervisor keeps supervising.

With an :class:`~posguard.terminal.update_guard.UpdateGuard` the supervisor also carries a
two-slot update through: recovery of an interrupted update runs *before* the child starts
(outside the heartbeat clock), a switch of ``current`` restarts the child on the new version,
a version on probation is confirmed after running healthy long enough and rolled back when
it crashes or freezes first.

Every start of the child goes through :func:`run_supervised`, which calls the
runtime's ``resume()`` hook first -- finish pending reversals, print queued receipts
-- and then its main loop. The child learns why it was started from the environment
(``POSGUARD_START_REASON``: ``boot``, ``freeze``, ``crash``, ``reboot`` or ``update``).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol

from posguard.common.events import EventKind

Emit = Callable[..., object]  # the outbox's emit(kind, code=None, **data)

FD_ENV: Final = "POSGUARD_WATCHDOG_FD"
INTERVAL_ENV: Final = "POSGUARD_WATCHDOG_INTERVAL"
REASON_ENV: Final = "POSGUARD_START_REASON"
RESTART_EXIT_CODE: Final = 75  # the child asks to be restarted (remote reboot): not a crash
RESTARTS_ENV: Final = "POSGUARD_RESTARTS"
# on the heartbeat pipe: a beat; a beat while resuming (startup deadline); shutting down
BEAT: Final = b"."
RESUMING: Final = b"R"
STOPPING: Final = b"S"
CRASH_LOOP: Final = "SW.CRASH_LOOP"

log = logging.getLogger("posguard.terminal.watchdog")

CRASH_LOOP_MESSAGE: Final = (
    "终端程序反复崩溃，已停止自动重启。请记下屏幕提示，联系服务商；不要反复断电重启。\n"
    "The payment application kept crashing and is no longer restarted. Note what the screen "
    "says and call your service provider; do not keep switching the terminal off and on."
)


class StartReason(StrEnum):
    BOOT = "boot"
    FREEZE = "freeze"
    CRASH = "crash"
    REBOOT = "reboot"  # the child exited with RESTART_EXIT_CODE
    UPDATE = "update"  # ``current`` was switched to another version: restarted on it


class SupervisorHooks(Protocol):
    """What the supervisor asks of an update guard (:mod:`posguard.terminal.update_guard`)."""

    def before_start(self, reason: StartReason) -> None:
        """Called before every start of the child, outside the heartbeat clock."""

    def check(self, alive_for: float | None) -> bool:
        """Called about once an interval; True restarts the child (its version changed).
        ``alive_for``: seconds since the child's first beat (None before it)."""
        ...


class Heartbeat:
    """The child's side: ``beat()`` from the main loop, at least once per interval."""

    def __init__(self, fd: int | None, interval: float) -> None:
        self._fd = fd
        self.interval = interval
        self.beats = 0
        self._mark = BEAT

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
            os.write(self._fd, self._mark)
        except BlockingIOError:
            pass  # the supervisor is behind on reading; it has seen us alive anyway
        except OSError:
            self._fd = None  # the supervisor is gone; keep running unsupervised

    @contextlib.contextmanager
    def resuming(self) -> Iterator[None]:
        """Recovery at start (journal, what is owed, an interrupted update) runs under the
        supervisor's ``startup`` deadline, not the ``missed`` beats of normal running: a long
        recovery is not a freeze, and a recovery hung past ``startup`` still is."""
        self._mark = RESUMING
        self.beat()
        try:
            yield
        finally:
            self._mark = BEAT
            self.beat()

    def stopping(self) -> None:
        """Tell the supervisor this process is shutting down on purpose: its last beats may
        be more than ``missed`` intervals apart (teardown), up to the supervisor's grace."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(self._fd, STOPPING)


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
    with heartbeat.resuming():
        resume(start_reason(environ))
    try:
        return main(heartbeat)
    finally:
        heartbeat.stopping()


@dataclass
class SupervisorStats:
    starts: int = 0
    freezes: int = 0
    crashes: int = 0
    exit_code: int | None = None  # the last child's exit status
    history: list[str] = field(default_factory=list)
    final: str | None = None  # "crash_loop" / "gave_up" when the supervisor stopped trying
    emit_failures: int = 0

    @property
    def supervisor_exit_code(self) -> int:
        """0 after a clean stop (whatever crashed before), 3 in a final state."""
        return 3 if self.final is not None else 0


_PR_SET_PDEATHSIG: Final = 1


def _die_with_parent() -> None:  # runs in the forked child, before exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


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
        crash_limit: int | None = 5,
        crash_window: float = 300.0,
        healthy_s: float = 60.0,
        hooks: SupervisorHooks | None = None,
        restart_on_clean_exit: bool = False,
    ) -> None:
        if interval <= 0 or missed < 1:
            raise ValueError("watchdog interval must be > 0 and missed >= 1")
        self.argv = list(argv)
        self.interval = interval
        self.missed = missed
        self.grace = grace
        self.startup = max(startup, interval * missed)
        self._emit_hook: Emit = emit or _no_emit
        self.crash_limit = crash_limit
        self.crash_window = crash_window
        self.healthy_s = healthy_s
        self.hooks = hooks
        # a runtime meant to run for good: a stop nobody asked for (exit 0 after a SIGTERM
        # sent to it alone, say) is reported and restarted, not taken as the end
        self.restart_on_clean_exit = restart_on_clean_exit
        self._failures: deque[float] = deque()
        self._restarts = 0
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

    def _emit(self, kind: EventKind, code: str | None = None, **data: Any) -> None:
        """Record an event; a failure to record it is logged, never fatal."""
        try:
            self._emit_hook(kind, code, **data)
        except Exception:
            self.stats.emit_failures += 1
            log.exception("watchdog: could not record %s %s %s", kind.value, code or "", data)

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
            child = subprocess.Popen(  # noqa: S603
                self.argv,
                env=env,
                pass_fds=(write_fd,),
                process_group=0,  # its own group: a freeze kills what it started too
                preexec_fn=_die_with_parent,
            )
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

    @staticmethod
    def _signal_group(child: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, sig)

    def _terminate(self, child: subprocess.Popen[bytes]) -> None:
        if child.poll() is None:
            self._signal_group(child, signal.SIGCONT)  # a stopped process cannot act on TERM
            self._signal_group(child, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(self.grace)
        self._signal_group(child, signal.SIGKILL)  # a hung process may ignore SIGTERM
        child.wait()

    def _watch(
        self,
        child: subprocess.Popen[bytes],
        read_fd: int,
        on_alive: Callable[[], object] | None = None,
    ) -> StartReason | None:
        """Block until the child hangs (FREEZE), dies (CRASH), exits cleanly (None) or must
        run another version (UPDATE).

        ``on_alive`` is called once, at the child's first heartbeat."""
        last_beat = time.monotonic()
        first_beat: float | None = None
        healthy_reported = False
        stopping = False
        next_check = 0.0
        allowed = self.startup  # imports and resume() run before the first beat
        while not self._stopping:
            now = time.monotonic()
            if now >= next_check:
                next_check = now + self.interval
                alive_for = None if first_beat is None else now - first_beat
                if self.hooks is not None and self._hook_check(alive_for):
                    self._terminate(child)
                    return StartReason.UPDATE
                if alive_for is not None and alive_for >= self.healthy_s and not healthy_reported:
                    healthy_reported = True
                    self._healthy()
            timeout = max(0.0, last_beat + allowed - time.monotonic())
            ready, _, _ = select.select([read_fd], [], [], min(timeout, self.interval))
            if ready:
                data = os.read(read_fd, 4096)
                if data:
                    last_beat = time.monotonic()
                    # a child shutting down on purpose gets the grace period to finish
                    stopping = stopping or STOPPING in data
                    if data.endswith(RESUMING):  # recovering: the startup deadline applies
                        allowed = self.startup
                    else:
                        allowed = self.hang_after + (self.grace if stopping else 0.0)
                    if first_beat is None:
                        first_beat = last_beat
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
                    before_first_beat=first_beat is None,
                )
                self._terminate(child)
                return StartReason.FREEZE
        self._terminate(child)
        return None

    def _hook_check(self, alive_for: float | None) -> bool:
        assert self.hooks is not None
        try:
            return self.hooks.check(alive_for)
        except Exception:  # the update guard's trouble never stops the supervision
            log.exception("watchdog: update guard check failed")
            return False

    def _healthy(self) -> None:
        """The child has run healthy for ``healthy_s``: the restart backoff starts again."""
        self._restarts = 0

    def _exited(self, code: int) -> StartReason | None:
        self.stats.exit_code = code
        if self._stopping:
            return None
        if code == 0 and not self.restart_on_clean_exit:
            self._emit(
                EventKind.LIFECYCLE,
                None,
                event="runtime_exited",
                exit_code=0,
                detail="the runtime stopped by itself, not by the supervisor: supervision ends",
            )
            return None
        if code == RESTART_EXIT_CODE:
            return StartReason.REBOOT
        self.stats.crashes += 1
        data: dict[str, Any] = {"exit_code": code}
        if code == 0:
            data["detail"] = "the runtime stopped without the supervisor asking"
        if code < 0:
            with contextlib.suppress(ValueError):
                data["signal"] = signal.Signals(-code).name
        self._emit(EventKind.FAULT, "SW.CRASH", **data)
        return StartReason.CRASH

    def _start_child(self, reason: StartReason) -> tuple[subprocess.Popen[bytes], int] | None:
        """Start the child; None (reported as SW.CRASH) when it cannot even be started."""
        if self.hooks is not None:
            try:
                self.hooks.before_start(reason)  # update recovery: before the clock runs
            except Exception:
                log.exception("watchdog: update guard failed before start")
        try:
            return self._spawn(reason)
        except OSError as exc:  # no such program, not executable, out of processes
            self.stats.starts += 1
            self.stats.history.append(reason.value)
            self.stats.crashes += 1
            self.stats.exit_code = 127
            self._emit(
                EventKind.FAULT,
                "SW.CRASH",
                exit_code=127,
                detail=f"cannot start {self.argv[0]}: {exc.strerror or exc}",
            )
            return None

    def _crash_loop(self) -> bool:
        """Record a crash or freeze; True when there were ``crash_limit`` within the window."""
        now = time.monotonic()
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.crash_window:
            self._failures.popleft()
        return self.crash_limit is not None and len(self._failures) >= self.crash_limit

    def _final(self, state: str, **data: Any) -> None:
        self.stats.final = state
        if state == "crash_loop":
            self._emit(EventKind.FAULT, CRASH_LOOP, **data)
        self._emit(EventKind.LIFECYCLE, None, event="supervisor_gave_up", final=state, **data)
        print(CRASH_LOOP_MESSAGE, file=sys.stderr, flush=True)

    def run(self) -> SupervisorStats:
        """Supervise until the child exits cleanly, ``stop()`` is called or a final state."""
        reason: StartReason | None = StartReason.BOOT
        self._restarts = 0
        open_fault: str | None = None
        while reason is not None and not self._stopping:
            started = self._start_child(reason)
            if started is None:
                reason = StartReason.CRASH
            else:
                child, read_fd = started
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
            if reason in (StartReason.REBOOT, StartReason.UPDATE):
                open_fault = None
                self._sleep(min(self.restart_backoff, 0.5))
                continue
            open_fault = "DEV.FREEZE" if reason is StartReason.FREEZE else "SW.CRASH"
            self._restarts += 1
            if self._crash_loop():
                self._final(
                    "crash_loop",
                    failures=len(self._failures),
                    window_s=self.crash_window,
                    last=reason.value,
                    exit_code=self.stats.exit_code,
                )
                break
            if self.max_restarts is not None and self._restarts > self.max_restarts:
                self._final("gave_up", restarts=self._restarts - 1)
                break
            delay = min(self.restart_backoff_cap, self.restart_backoff * 2 ** (self._restarts - 1))
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
