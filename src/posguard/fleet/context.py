"""Everything a fleet process shares: settings, database, catalog, rules, clock, ingest store."""

from __future__ import annotations

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
from posguard.fleet.jwt_keys import JwtKeys
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
    jwt_secret: str  # the signing key's secret
    # kid -> secret: every key a token or a web session may be verified with (empty: just
    # jwt_secret); jwt_kid names the signing key in the tokens' header
    jwt_keys: Mapping[str, str] = field(default_factory=dict)
    jwt_kid: str | None = None
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
        keys = JwtKeys.from_settings(settings)
        if not keys.configured:
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
            store=EventStore(
                sessions,
                catalog=catalog,
                clock=clock,
                heartbeat_sample_s=settings.heartbeat_sample_s,
            ),
            jwt_secret=keys.signing_secret,
            jwt_keys=keys.keys,
            jwt_kid=keys.signing_kid,
        )

    def verification_keys(self) -> dict[str, str]:
        """kid -> secret, the signing key first."""
        rest = {k: v for k, v in self.jwt_keys.items() if v != self.jwt_secret}
        return {self.jwt_kid or "": self.jwt_secret, **rest}

    def close(self) -> None:
        self.engine.dispose()
