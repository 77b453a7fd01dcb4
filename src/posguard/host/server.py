"""The ISO 8583 host server: asyncio TCP (optionally TLS), length-prefixed frames, many
terminals at once, each request handled on the event loop's thread and committed in groups
(:mod:`posguard.host.group_commit`): one fsync for every request read in the same loop turn,
each answer sent only after its decision's commit.

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
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import structlog

from posguard.common.errors import FrameError
from posguard.host.group_commit import GroupCommitter
from posguard.host.handler import HandleResult, HostHandler
from posguard.host.issuer import Issuer
from posguard.host.journal import HostJournal, JournalEntry
from posguard.host.ledger import Ledger
from posguard.host.seed import SeedData
from posguard.iso8583.framing import (
    MAX_FRAME_SIZE,
    LengthHeader,
    PeerClosedError,
    frame,
    read_frame,
)
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
        self.handler = HostHandler(self.spec, self.issuer, self.journal, clock=clock)
        self._ledger_tx: GroupCommitter | None = None
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()  # read a request, not yet answered it
        self._closing = False
        self.port = 0
        self.open_connections = 0

    async def start(self) -> None:
        cfg = self.config
        self._ledger_tx = GroupCommitter(self.ledger, self.journal)
        self._server = await asyncio.start_server(
            self._on_client, cfg.host, cfg.port, ssl=cfg.tls, reuse_address=True, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("host listening", port=self.port, spec=cfg.spec, tls=cfg.tls is not None)

    async def stop(self, grace: float = 10.0) -> int:
        """Stop accepting, finish the requests in flight (answered, up to ``grace`` s), close
        the other connections, flush the journal, checkpoint the WALs, close. Returns how many
        requests were in flight."""
        self._closing = True
        if self._server is not None:
            self._server.close()
            self._server = None
        in_flight = len(self._busy)
        for task in list(self._conns):
            if task not in self._busy:
                task.cancel()
        if self._busy:
            await asyncio.wait(list(self._busy), timeout=grace)
        for task in list(self._conns):
            task.cancel()
        for task in list(self._conns):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._ledger_tx is not None:
            await self._ledger_tx.stop()  # commits the last group, syncs, flushes the journal
            self._ledger_tx = None
        self.journal.close(checkpoint=True)
        try:
            self.ledger.checkpoint()
        finally:
            self.ledger.close()
        return in_flight

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

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self.open_connections += 1
        addr = writer.get_extra_info("peername")
        peer = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)
        try:
            await self._serve(reader, writer, peer)
        except (ConnectionError, OSError) as exc:
            log.info("connection lost", peer=peer, error=type(exc).__name__)
        except asyncio.CancelledError:
            pass
        except Exception:  # a bug must cost one connection, never the server
            log.exception("connection handler failed", peer=peer)
        finally:
            self.open_connections -= 1
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        cfg = self.config
        while True:
            try:
                raw = await read_frame(
                    reader, cfg.length_header, cfg.max_frame, timeout=cfg.idle_timeout
                )
            except PeerClosedError:
                return
            except FrameError as exc:
                if isinstance(exc, TimeoutError):
                    log.info("idle connection closed", peer=peer)
                    return
                log.warning("bad frame, closing", peer=peer, error=str(exc))
                entry = JournalEntry(
                    peer=peer,
                    tid="",
                    mti="",
                    stan="",
                    rc="",
                    pan_masked="",
                    amount=None,
                    raw_len=int(exc.context.get("length", 0)),
                    decision=f"bad frame: {exc.message}",
                )
                self.journal.record(entry)
                return
            task = asyncio.current_task()
            assert task is not None
            assert self._ledger_tx is not None
            self._busy.add(task)
            try:
                result = await self._ledger_tx.submit(self.handler.handle, raw, peer)
                assert isinstance(result, HandleResult)
                if result.answer is None:
                    if result.keep_open and not self._closing:
                        continue
                    return
                writer.write(frame(result.answer, cfg.length_header))
                await writer.drain()
            finally:
                self._busy.discard(task)
            if self._closing:
                return
