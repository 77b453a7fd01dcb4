"""Validate a batch of raw events and store it: each event is stored, a duplicate, or rejected
with a reason; a bad event never stops the rest of its batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from posguard.catalog.model import Entry
from posguard.common.errors import EventError
from posguard.common.events import Event, EventKind, parse_event
from posguard.fleet.clock import Clock
from posguard.fleet.db.models import Terminal
from posguard.fleet.metrics import EVENTS, INGEST_SECONDS
from posguard.fleet.repo.commands import complete_command
from posguard.fleet.repo.events import insert_events


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class EventResult:
    index: int
    outcome: Outcome
    terminal_id: str | None = None
    seq: int | None = None
    reason: str | None = None


class EventStore:
    """The one ingest path. ``credential_terminal`` (HTTP) pins every event to that terminal;
    over MQTT it is None and the event's terminal must simply be known and not revoked.
    """

    def __init__(
        self, sessions: sessionmaker[Session], *, catalog: Mapping[str, Entry], clock: Clock
    ) -> None:
        self.sessions = sessions
        self.catalog = catalog
        self.clock = clock

    def _check(
        self, ev: Event, credential_terminal: str | None, terminals: Mapping[str, tuple[str, bool]]
    ) -> str | None:
        if credential_terminal is not None and ev.terminal_id != credential_terminal:
            return f"terminal_id {ev.terminal_id} does not match the credential's terminal"
        known = terminals.get(ev.terminal_id)
        if known is None:
            return f"unknown terminal {ev.terminal_id}"
        merchant_id, revoked = known
        if revoked:
            return f"terminal {ev.terminal_id} is revoked"
        if ev.merchant_id != merchant_id:
            return f"merchant_id {ev.merchant_id} is not the merchant of terminal {ev.terminal_id}"
        if ev.code is not None and ev.code not in self.catalog:
            return f"code {ev.code} is not in the exception catalog"
        return None

    def store(
        self, raws: Sequence[Any], *, transport: str, credential_terminal: str | None = None
    ) -> list[EventResult]:
        with INGEST_SECONDS.labels(transport).time():
            results = self._store(raws, credential_terminal)
        for r in results:
            EVENTS.labels(transport, r.outcome.value).inc()
        return results

    def _store(self, raws: Sequence[Any], credential_terminal: str | None) -> list[EventResult]:
        results: list[EventResult | None] = [None] * len(raws)
        parsed: list[tuple[int, Event]] = []
        for i, raw in enumerate(raws):
            try:
                parsed.append((i, parse_event(raw)))
            except EventError as exc:
                results[i] = EventResult(i, Outcome.REJECTED, reason=str(exc))
        now = self.clock.now()
        with self.sessions.begin() as session:
            ids = {ev.terminal_id for _, ev in parsed}
            terminals = (
                {
                    tid: (mid, revoked)
                    for tid, mid, revoked in session.execute(
                        select(Terminal.id, Terminal.merchant_id, Terminal.revoked).where(
                            Terminal.id.in_(ids)
                        )
                    )
                }
                if ids
                else {}
            )
            rows: list[dict[str, Any]] = []
            keyed: dict[tuple[str, int], int] = {}
            accepted: list[tuple[int, Event]] = []
            for i, ev in parsed:
                reason = self._check(ev, credential_terminal, terminals)
                if reason is not None:
                    results[i] = EventResult(i, Outcome.REJECTED, ev.terminal_id, ev.seq, reason)
                    continue
                key = (ev.terminal_id, ev.seq)
                if key in keyed:
                    results[i] = EventResult(i, Outcome.DUPLICATE, ev.terminal_id, ev.seq)
                    continue
                keyed[key] = i
                accepted.append((i, ev))
                rows.append(
                    {
                        "terminal_id": ev.terminal_id,
                        "merchant_id": ev.merchant_id,
                        "seq": ev.seq,
                        "ts": ev.ts,
                        "received_at": now,
                        "kind": ev.kind.value,
                        "code": ev.code,
                        "data": ev.data,
                    }
                )
            stored = insert_events(session, rows=rows)
            for i, ev in accepted:
                key = (ev.terminal_id, ev.seq)
                if key in stored:
                    results[i] = EventResult(i, Outcome.STORED, ev.terminal_id, ev.seq)
                    if ev.kind is EventKind.COMMAND_RESULT:
                        complete_command(session, terminal_id=ev.terminal_id, data=ev.data, now=now)
                else:
                    results[i] = EventResult(i, Outcome.DUPLICATE, ev.terminal_id, ev.seq)
        return [r for r in results if r is not None]
