"""Serve the fleet API from several processes: one per core, each with its own listening
socket on the same port (``SO_REUSEPORT``), so the kernel spreads connections over them.

Why processes: ingest is Python work per event (validation, checks, rows), and one CPython
process runs Python on one core at a time. Two ingest threads in one process are slower than
one (each SQLite call hands the GIL back and forth). Several processes validate in parallel;
on SQLite their writes still go one at a time (:class:`~posguard.fleet.db.write_lock.
SqliteWriteLock`), on PostgreSQL the server takes them together.

Why one socket each, not uvicorn's ``--workers`` over one shared socket: with a shared socket
whichever process wakes first accepts, and a few long-lived terminal connections can all land
on one process while the others idle (seen in the ingest benchmark: one process at 100 % CPU,
the other at 0 %). With ``SO_REUSEPORT`` the kernel hashes each new connection to a socket.

Only worker 0 runs the diagnosis loop (when the settings ask for it): one loop per database.
A worker that dies is started again (at most :data:`RESTARTS` times a minute); SIGINT or
SIGTERM stops them all. ``/metrics`` answers for all workers (prometheus_client's multiprocess
mode, in a temporary directory the supervisor owns). Known limit: the login throttle is per
process (put the same limit in the reverse proxy).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import socket
import tempfile
import time
from collections import deque
from multiprocessing.process import BaseProcess

import structlog
from prometheus_client import multiprocess

from posguard.common.errors import ConfigError
from posguard.fleet.config import FleetSettings
from posguard.fleet.jwt_keys import JwtKeys

log = structlog.get_logger(__name__)

RESTARTS = 5  # per worker per minute; beyond that the server stops with an error


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` TCP sockets listening on the same address with ``SO_REUSEPORT`` (port 0: the
    first picks a free port, the others join it)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError("--workers above 1 needs SO_REUSEPORT (Linux, BSD, macOS)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto is
            # TCP; without it a small answer can wait for the client's delayed ACK (~40 ms)
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.listen(2048)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in socks:
            sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return socks


def listening_socket(host: str, port: int) -> socket.socket:
    """One TCP socket listening on ``host:port``; a busy or forbidden port is a
    :class:`ConfigError` in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def _run_worker(settings: FleetSettings, sock: socket.socket, log_level: str) -> None:
    import uvicorn

    from posguard.fleet.api.app import create_app

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor stops us with SIGTERM
    config = uvicorn.Config(
        create_app(settings),
        log_level=log_level,
        access_log=False,
        **settings.uvicorn_proxy_options(),
    )
    uvicorn.Server(config).run(sockets=[sock])


def serve_processes(
    settings: FleetSettings,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str = "info",
) -> int:
    """Run ``workers`` API processes until SIGINT/SIGTERM; returns the exit status."""
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if workers > 1 and not JwtKeys.from_settings(settings).configured:
        # each worker would sign with its own random secret: a token one issues, the others
        # refuse (43 of 100 calls got 401 in the review)
        raise ConfigError(
            f"--workers {workers} needs a shared token secret: set POSGUARD_FLEET_JWT_SECRET "
            "(or POSGUARD_FLEET_JWT_KEYS and POSGUARD_FLEET_JWT_SIGNING_KEY_ID)"
        )
    socks = listening_sockets(host, port, workers)
    bound = socks[0].getsockname()[1]
    # metrics of all workers in one scrape: prometheus_client's multiprocess mode, which the
    # workers pick up from the environment they are spawned with
    metrics_dir = tempfile.mkdtemp(prefix="posguard-metrics-")
    old_env = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    ctx = mp.get_context("spawn")
    stopping = False

    def start(i: int) -> BaseProcess:
        own = settings.model_copy(
            update={"diagnosis_in_process": settings.diagnosis_in_process and i == 0}
        )
        proc = ctx.Process(
            target=_run_worker, args=(own, socks[i], log_level), name=f"posguard-fleet-{i}"
        )
        proc.start()
        return proc

    def stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    procs = [start(i) for i in range(workers)]
    restarts = [deque[float]() for _ in range(workers)]
    log.info("fleet.serve.started", host=host, port=bound, workers=workers)
    status = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for i, proc in enumerate(procs):
                if proc.is_alive() or stopping:
                    continue
                now = time.monotonic()
                recent = restarts[i]
                while recent and now - recent[0] > 60:
                    recent.popleft()
                if len(recent) >= RESTARTS:
                    log.error("fleet.serve.worker_keeps_dying", worker=i, code=proc.exitcode)
                    stopping, status = True, 1
                    break
                log.warning("fleet.serve.worker_restarted", worker=i, code=proc.exitcode)
                if proc.pid is not None:
                    multiprocess.mark_process_dead(proc.pid, metrics_dir)  # type: ignore[no-untyped-call]
                recent.append(now)
                procs[i] = start(i)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(15)
            if proc.is_alive():
                proc.kill()
        for sock in socks:
            sock.close()
        for s, handler in old.items():
            signal.signal(s, handler)
        if old_env is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = old_env
        shutil.rmtree(metrics_dir, ignore_errors=True)
        log.info("fleet.serve.stopped", status=status)
    return status
