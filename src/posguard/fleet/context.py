"""Everything a fleet process shares: settings, database, catalog, rules, clock, ingest store."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from posguard.catalog import default_catalog
from posguard.catalog.model import Entry
from posguard.fleet.clock import Clock, SystemClock
from posguard.fleet.config import FleetSettings, get_settings
from posguard.fleet.db.engine import make_engine, make_sessionmaker
from posguard.fleet.diagnosis.rules import Rule, load_rules
from posguard.fleet.ingest.store import EventStore
from posguard.fleet.login_guard import LoginGuard

log = structlog.get_logger(__name__)


@dataclass
class FleetContext:
    settings: FleetSettings
    engine: Engine
    sessions: sessionmaker[Session]
    catalog: Mapping[str, Entry]
    rules: Sequence[Rule]
    clock: Clock
    store: EventStore
    jwt_secret: str
    logins: LoginGuard = field(init=False)  # wrong-password throttle for both login paths

    def __post_init__(self) -> None:
        self.logins = LoginGuard(self.clock)

    @classmethod
    def build(
        cls, settings: FleetSettings | None = None, *, clock: Clock | None = None
    ) -> FleetContext:
        settings = settings or get_settings()
        clock = clock or SystemClock()
        catalog = default_catalog()
        rules = load_rules(settings.rules_dir, catalog=catalog)
        engine = make_engine(settings.database_url)
        sessions = make_sessionmaker(engine)
        if settings.jwt_secret is not None:
            secret = settings.jwt_secret.get_secret_value()
        else:
            secret = secrets.token_urlsafe(32)
            log.warning(
                "fleet.jwt_secret_unset",
                detail="random per-process secret; set POSGUARD_FLEET_JWT_SECRET",
            )
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            catalog=catalog,
            rules=rules,
            clock=clock,
            store=EventStore(sessions, catalog=catalog, clock=clock),
            jwt_secret=secret,
        )

    def close(self) -> None:
        self.engine.dispose()
