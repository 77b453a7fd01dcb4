"""The proxy's listening port in its three states, each switched synchronously (no await), so a
fault set or cleared takes effect at the kernel before the caller's next statement:

- :class:`AcceptingListener`: accepts every connection and hands the socket on (normal service);
- :class:`FullBacklogListener`: a socket on the same port with ``listen(0)`` whose one-slot
  accept queue is filled by a connection the proxy makes to itself and never accepts. Linux
  then drops every further SYN (``ListenOverflows``), so a client's ``connect()`` retransmits
  its SYN and times out, exactly as behind a firewall that silently drops traffic;
- no listener at all (the port is closed: ``connect()`` gets ECONNREFUSED).

Sockets use SO_REUSEADDR so a state change keeps the same port. Connections already accepted
are independent sockets and are not affected by a state change.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Callable

import structlog

__all__ = ["AcceptingListener", "FullBacklogListener", "bind_listener"]

log = structlog.get_logger("posguard.host.listener")

BACKLOG = 100
_ACCEPT_BURST = 64
_FILLER_TIMEOUT = 1.0
_TRANSIENT = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR, errno.ECONNABORTED})


def bind_listener(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    """A listening, non-blocking TCP socket on ``host:port`` (port 0: an ephemeral one).

    >>> sock = bind_listener("127.0.0.1", 0)
    >>> sock.getsockname()[1] > 0
    True
    >>> sock.close()
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    sock.setblocking(False)
    return sock


class AcceptingListener:
    """Accept connections on ``sock`` from the running loop's reader callback and pass each
    accepted (non-blocking) socket to ``on_accept``. :meth:`close` takes the connections that
    already completed their handshake first, so none is lost at a state change."""

    def __init__(self, sock: socket.socket, on_accept: Callable[[socket.socket], None]) -> None:
        self._sock = sock
        self._on_accept = on_accept
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self._loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(_ACCEPT_BURST):
            try:
                conn, _addr = self._sock.accept()
            except OSError as exc:
                if exc.errno in _TRANSIENT or isinstance(exc, BlockingIOError):
                    return
                # EMFILE/ENFILE/ENOBUFS: pause a second instead of spinning on a readable socket
                log.error("accept failed; pausing the listener", error=str(exc))
                self._loop.remove_reader(self._sock.fileno())
                self._loop.call_later(1.0, self._resume)
                return
            conn.setblocking(False)
            self._on_accept(conn)

    def _resume(self) -> None:
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError, ValueError):
            self._accept()  # connections already queued become ordinary, existing ones
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()


class FullBacklogListener:
    """Hold ``host:port`` with an accept queue that is full, so new SYNs are dropped (Linux).

    >>> import socket
    >>> probe = bind_listener("127.0.0.1", 0)
    >>> port = probe.getsockname()[1]
    >>> probe.close()
    >>> full = FullBacklogListener("127.0.0.1", port)
    >>> client = socket.socket()
    >>> client.settimeout(0.2)
    >>> try:
    ...     client.connect(("127.0.0.1", port))
    ... except TimeoutError:
    ...     print("timed out")
    timed out
    >>> client.close(); full.close()
    """

    def __init__(self, host: str, port: int) -> None:
        self._sock = bind_listener(host, port, backlog=0)
        address = self._sock.getsockname()[:2]
        if address[0] in ("0.0.0.0", "::"):  # noqa: S104 - a wildcard bind is reached via loopback
            address = ("127.0.0.1" if address[0] == "0.0.0.0" else "::1", address[1])  # noqa: S104
        try:
            # listen(0) leaves one slot in the accept queue: this connection takes it
            self._filler = socket.create_connection(address, timeout=_FILLER_TIMEOUT)
        except OSError:
            self._sock.close()
            raise

    def close(self) -> None:
        """Free the port; the filler connection is reset by the kernel with its listener."""
        self._filler.close()
        self._sock.close()
