"""Notification fixtures: local HTTP receivers on 127.0.0.1 that play a vendor's side (they
check the request the way the vendor documents it and answer like it), and helpers to open,
acknowledge and resolve incidents through the fleet's own code."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import Incident
from posguard.fleet.diagnosis.observed import Open
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.incidents import IncidentApplier
from posguard.fleet.notify.config import NotifyConfig, parse_config
from posguard.fleet.notify.delivery import Notifier
from posguard.fleet.notify.hook import install, uninstall

from ..conftest import FleetDB


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


# A vendor's side: look at a request, answer (HTTP status, JSON body).
Verdict = tuple[int, dict[str, Any]]
Verify = Callable[[Received], Verdict]


@dataclass
class Receiver:
    """Records every POST; ``verify`` decides the answer (default 200 {"errcode": 0})."""

    verify: Verify = field(default=lambda _r: (200, {"errcode": 0, "errmsg": "ok"}))
    requests: list[Received] = field(default_factory=list)
    accepted: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                parts = urlsplit(self.path)
                req = Received(
                    path=parts.path,
                    query={k: v[0] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                outer.requests.append(req)
                status, answer = outer.verify(req)
                if status == 200 and answer.get("errcode", answer.get("code", 0)) == 0:
                    outer.accepted.append(req)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def catalog() -> Any:
    return default_catalog()


@pytest.fixture
def hook_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = "whsec-test-0123456789abcdef"
    monkeypatch.setenv("PG_TEST_HOOK_SECRET", value)
    return value


def webhook_config(url: str, **route: Any) -> NotifyConfig:
    """One webhook channel, one route taking everything (overridable)."""
    r = {"id": "all", "notify": [{"channel": "hook"}], "hold_s": 0, **route}
    return parse_config(
        {
            "public_url": "https://fleet.example",
            "channels": [
                {
                    "id": "hook",
                    "type": "webhook",
                    "url": url + "/hook",
                    "secret": {"env": "PG_TEST_HOOK_SECRET"},
                }
            ],
            "routes": [r],
            "delivery": {"backoff_s": 30, "lease_s": 60},
        },
        source="test.yaml",
    )


@dataclass
class Incidents:
    """Open, acknowledge and resolve incidents through the fleet's own code paths."""

    db: FleetDB
    clock: FakeClock
    applier: IncidentApplier

    def open(
        self,
        terminal_id: str | None,
        *,
        rule: str = "printer-paper-out",
        code: str = "PRN.PAPER_OUT",
        scope: str | None = None,
        members: tuple[str, ...] = (),
        merchant_id: str | None = "M01",
    ) -> int:
        with self.db.sessions.begin() as s:
            applied = self.applier.apply(
                s,
                [
                    Open(
                        rule_id=rule,
                        scope=scope or f"terminal:{terminal_id}",
                        code=code,
                        at=self.clock.now(),
                        reason="test",
                        events=(),
                        terminal_id=terminal_id,
                        merchant_id=merchant_id if terminal_id else None,
                        members=members,
                    )
                ],
            )
        return applied.opened[0]

    def ack(self, incident_id: int, by: str = "ops") -> None:
        from posguard.fleet.repo.incidents import acknowledge

        with self.db.sessions.begin() as s:
            inc = s.get(Incident, incident_id)
            assert inc is not None
            assert acknowledge(s, incident=inc, by=by, now=self.clock.now())

    def resolve(self, incident_id: int, by: str = "ops") -> None:
        from posguard.fleet.repo.incidents import resolve

        with self.db.sessions.begin() as s:
            inc = s.get(Incident, incident_id)
            assert inc is not None
            assert resolve(s, incident=inc, by=by, now=self.clock.now())

    def status(self, incident_id: int) -> str:
        with self.db.sessions() as s:
            inc = s.get(Incident, incident_id)
            assert inc is not None
            return inc.status


@dataclass
class Wired:
    config: NotifyConfig
    incidents: Incidents
    notifier: Notifier

    def new_worker(self, name: str, db: FleetDB | None = None) -> Notifier:
        n = self.notifier
        return Notifier(
            db.sessions if db else n.sessions,
            config=n.config,
            catalog=n.catalog,
            clock=n.clock,
            worker_id=name,
        )


def wire(db: FleetDB, clock: FakeClock, config: NotifyConfig, catalog: Any) -> Iterator[Wired]:
    rules = {r.id: r for r in load_rules(catalog=catalog)}
    hook = install(db.sessions, config=config, catalog=catalog, clock=clock)
    try:
        yield Wired(
            config,
            Incidents(db, clock, IncidentApplier(rules=rules, catalog=catalog)),
            Notifier(db.sessions, config=config, catalog=catalog, clock=clock, worker_id="w1"),
        )
    finally:
        uninstall(db.sessions, hook)


def outbox_rows(db: FleetDB) -> list[Any]:
    from sqlalchemy import select

    from posguard.fleet.db.models import NotificationOutbox

    with db.sessions() as s:
        return list(s.scalars(select(NotificationOutbox).order_by(NotificationOutbox.id)))
