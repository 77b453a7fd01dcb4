"""The ISO 8583 host server: asyncio TCP (optionally TLS), length-prefixed frames, many
terminals at once (one :class:`~posguard.host.connection.HostConnection` protocol each), each
request handled on the event loop's thread and committed in groups
(:mod:`posguard.host.group_commit`): one fsync for every request read in the same loop turn,
each answer written only after its decision's commit is durable.

Bad input never crashes the server or disturbs other connections: a frame that cannot be read
(garbage, truncated or oversized length) closes only its own connection; a frame that does not
decode gets a format-error answer when its MTI is readable; every case is journalled and
logged with the peer.

:meth:`HostServer.stop` is graceful: it stops accepting, lets every request already read be
decided and answered (up to ``grace`` seconds), closes idle connections, flushes the journal
and checkpoints the write-ahead logs, so a SIGTERM loses nothing that was answered.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import structlog

from posguard.host.connection import Connections, HostConnection
from posguard.host.group_commit import Done, GroupCommitter
from posguard.host.handler import HostHandler
from posguard.host.issuer import Issuer
from posguard.host.journal import HostJournal
from posguard.host.ledger import Ledger
from posguard.host.seed import SeedData
from posguard.host.terminal_books import LedgerTerminalBooks
from posguard.iso8583.framing import MAX_FRAME_SIZE, LengthHeader
from posguard.iso8583.spec import load_spec

__all__ = ["HostConfig", "HostServer", "tls_context"]

log = structlog.get_logger("posguard.host")


@dataclass(frozen=True, slots=True)
class HostConfig:
    """Every default of the host in one place. ``db`` ``":memory:"`` keeps nothing on disk;
    the journal goes to ``journal_db`` (default: the same file as the ledger). ``synchronous``
    is the ledger's durability (see :meth:`Ledger.open`)."""

    host: str = "127.0.0.1"
    port: int = 0
    spec: str = "iso87ascii"
    db: str = ":memory:"
    journal_db: str | None = None
    length_header: LengthHeader = LengthHeader.BINARY2
    max_frame: int = MAX_FRAME_SIZE
    idle_timeout: float = 300.0
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    tls: ssl.SSLContext | None = None


def tls_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2+) from PEM certificate and key files."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


class HostServer:
    """``async with HostServer(config, seed=...) as host: host.port ...``"""

    def __init__(
        self,
        config: HostConfig = HostConfig(),
        *,
        seed: SeedData | None = None,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.config = config
        self.spec = load_spec(config.spec)
        self.ledger = Ledger.open(config.db, synchronous=config.synchronous)
        if seed is not None:
            self.ledger.load_seed(seed)
        self.journal = HostJournal.open(config.journal_db or config.db)
        self.issuer = Issuer(self.ledger, clock=clock)
        self.handler = HostHandler(
            self.spec, self.issuer, self.journal, LedgerTerminalBooks(self.ledger), clock=clock
        )
        self._ledger_tx: GroupCommitter | None = None
        self._server: asyncio.Server | None = None
        self._conns = Connections()
        self.port = 0

    async def start(self) -> None:
        cfg = self.config
        self._ledger_tx = GroupCommitter(self.ledger, self.journal)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._connection, cfg.host, cfg.port, ssl=cfg.tls, reuse_address=True, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("host listening", port=self.port, spec=cfg.spec, tls=cfg.tls is not None)

    async def stop(self, grace: float = 10.0) -> int:
        """Stop accepting, finish the requests in flight (answered, up to ``grace`` s), close
        the other connections, flush the journal, checkpoint the WALs, close. Returns how many
        requests were in flight."""
        conns = self._conns
        conns.closing = True
        if self._server is not None:
            self._server.close()
            self._server = None
        in_flight = len(conns.busy)
        conns.close(busy_too=False)
        await conns.wait_answered(grace)
        conns.close(busy_too=True)
        await asyncio.sleep(0)  # let the transports report their close
        if self._ledger_tx is not None:
            await self._ledger_tx.stop()  # commits the last group, syncs, flushes the journal
            self._ledger_tx = None
        self.journal.close(checkpoint=True)
        try:
            self.ledger.checkpoint()
        finally:
            self.ledger.close()
        return in_flight

    @property
    def open_connections(self) -> int:
        return len(self._conns.open)

    async def __aenter__(self) -> HostServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def call(self, fn: Callable[[], object]) -> object:
        """Run ``fn`` in the ledger's current group (reads see every committed decision; writes
        commit with the group)."""
        assert self._ledger_tx is not None, "start() first"
        return await self._ledger_tx.submit(fn)

    def _connection(self) -> HostConnection:
        cfg = self.config
        return HostConnection(
            self._decide,
            self.journal,
            self._conns,
            length_header=cfg.length_header,
            max_frame=cfg.max_frame,
            idle_timeout=cfg.idle_timeout,
        )

    def _decide(self, raw: bytes, peer: str, done: Done) -> None:
        """One request frame into the ledger's current group; ``done`` gets its
        :class:`HandleResult` once the group is durable."""
        assert self._ledger_tx is not None, "start() first"
        self._ledger_tx.run(done, self.handler.handle, raw, peer)
