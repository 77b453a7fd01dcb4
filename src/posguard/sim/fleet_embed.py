"""The fleet service embedded in the demo's process: SQLite, migrations, terminals registered
with their credentials, a dashboard user, and uvicorn serving the real app on 127.0.0.1.

uvicorn runs as a task of the caller's event loop and does not take over SIGINT/SIGTERM (the
demo owns those, so Ctrl-C stops the whole story cleanly and still writes the report).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from sqlalchemy import func, select

from posguard.catalog import default_catalog
from posguard.common.errors import ConfigError
from posguard.fleet.api.app import create_app
from posguard.fleet.clock import SystemClock
from posguard.fleet.config import FleetSettings
from posguard.fleet.context import FleetContext
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.db.migrate import upgrade
from posguard.fleet.db.models import EventRow, Incident
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.ingest.store import EventStore
from posguard.fleet.repo.terminals import add_terminal
from posguard.fleet.repo.users import Role, create_user
from posguard.sim.population import Estate

DASHBOARD_USER = "demo"


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the demo decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True, slots=True)
class IncidentView:
    id: int
    rule_id: str
    code: str
    scope: str
    status: str
    opened_at: datetime
    resolved_at: datetime | None


@dataclass
class EmbeddedFleet:
    """``await fleet.start(estate)`` ... ``await fleet.stop()``."""

    db_path: Path
    heartbeat_s: int = 10
    host: str = "127.0.0.1"
    port: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    context: FleetContext | None = None
    _server: _Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db_path}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def dashboard_url(self) -> str:
        return f"{self.base_url}/ui/"

    def prepare(self, estate: Estate) -> None:
        """Create the schema and register every terminal of ``estate`` (credentials kept)."""
        engine = make_engine(self.url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        settings = FleetSettings(
            database_url=self.url,
            jwt_secret=secrets.token_urlsafe(32),
            diagnosis_poll_s=0.2,
            default_heartbeat_interval_s=self.heartbeat_s,
            # the story plays a day in minutes: keep every heartbeat in the sampled history,
            # so the network report has the round trips the story's terminals measured
            heartbeat_sample_s=self.heartbeat_s,
        )
        self.context = _context(settings)
        names = {m.merchant_id: m.name for m in estate.merchants}
        now = datetime.now(UTC)
        with self.context.sessions.begin() as session:
            for t in estate.terminals:
                _, cred = add_terminal(
                    session,
                    terminal_id=t.terminal_id,
                    merchant_id=t.merchant_id,
                    merchant_name=names.get(t.merchant_id, ""),
                    model=t.model,
                    brand=t.brand,
                    firmware=t.firmware,
                    acquirer_host=t.host,
                    area=t.area,
                    install_date=t.install_date,
                    warranty_end=t.warranty_end,
                    now=now,
                )
                self.tokens[t.terminal_id] = cred.token
            create_user(
                session, username=DASHBOARD_USER, password=self.password, role=Role.OPS, now=now
            )

    async def start(self) -> None:
        if self.context is None:
            raise ConfigError("EmbeddedFleet.prepare(estate) must run before start()")
        app = create_app(context=self.context)
        # IPPROTO_TCP named explicitly: asyncio turns on TCP_NODELAY only for such sockets, and
        # without it every answer waits ~40 ms for the client's delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            log_config=None,
            proxy_headers=False,  # the client address is the peer's own
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(200):  # bounded: up to 10 s for the app's startup
            if self._server.started or self._task.done():
                break
            await asyncio.sleep(0.05)
        if not self._server.started:
            raise ConfigError("the embedded fleet service did not start")

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 15)
        if self.context is not None:
            self.context.close()

    # -- reading back ---------------------------------------------------------------------------

    def incidents(self) -> list[IncidentView]:
        assert self.context is not None
        with self.context.sessions() as session:
            rows = session.scalars(select(Incident).order_by(Incident.id)).all()
            return [
                IncidentView(r.id, r.rule_id, r.code, r.scope, r.status, r.opened_at, r.resolved_at)
                for r in rows
            ]

    def event_counts(self) -> dict[str, int]:
        assert self.context is not None
        with self.context.sessions() as session:
            rows = session.execute(select(EventRow.kind, func.count()).group_by(EventRow.kind))
            return {str(k): int(n) for k, n in rows}


def _context(settings: FleetSettings) -> FleetContext:
    """The fleet's context with a connection pool sized for many agents posting at once.

    An HTTP ingest request holds two pooled connections (the credential check's session and
    the store's), so the default pool (5 + 10 overflow) deadlocks for 30 s as soon as about
    fifteen terminals post together; the embedded fleet gives every worker thread room.
    """
    catalog = default_catalog()
    engine = make_engine(settings.database_url, pool_size=48, max_overflow=48, pool_timeout=60)
    sessions = make_sessionmaker(engine)
    clock = SystemClock()
    secret = (
        settings.jwt_secret.get_secret_value() if settings.jwt_secret else secrets.token_urlsafe(32)
    )
    return FleetContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        catalog=catalog,
        rules=load_rules(settings.rules_dir, catalog=catalog),
        clock=clock,
        store=EventStore(
            sessions,
            catalog=catalog,
            clock=clock,
            heartbeat_sample_s=settings.heartbeat_sample_s,
        ),
        jwt_secret=secret,
    )


def fleet_db_files(db_path: Path) -> Sequence[Path]:
    """The database file and its WAL companions, those that exist."""
    return [p for p in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")) if p.exists()]
