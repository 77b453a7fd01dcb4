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
from posguard.common.event_batch import parse_events
from posguard.common.events import EventKind
from posguard.fleet.clock import Clock
from posguard.fleet.db.models import Terminal
from posguard.fleet.metrics import EVENTS, INGEST_SECONDS
from posguard.fleet.repo.commands import complete_command
from posguard.fleet.repo.event_insert import EventInsert, insert_event_rows

_KIND_TEXT = {k: k.value for k in EventKind}
_COMMAND_RESULT = EventKind.COMMAND_RESULT.value


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

    A batch costs one schema validation call (:func:`~posguard.common.event_batch.parse_events`),
    one terminal lookup and one insert statement per 1,000 events; per event only the checks
    below and building its row run in Python.
    """

    def __init__(
        self, sessions: sessionmaker[Session], *, catalog: Mapping[str, Entry], clock: Clock
    ) -> None:
        self.sessions = sessions
        self.catalog = catalog
        self.clock = clock

    def _refusal(
        self,
        terminal_id: str,
        merchant_id: str,
        code: str | None,
        credential_terminal: str | None,
        terminals: Mapping[str, tuple[str, bool]],
    ) -> str | None:
        if credential_terminal is not None and terminal_id != credential_terminal:
            return f"terminal_id {terminal_id} does not match the credential's terminal"
        known = terminals.get(terminal_id)
        if known is None:
            return f"unknown terminal {terminal_id}"
        if known[1]:
            return f"terminal {terminal_id} is revoked"
        if merchant_id != known[0]:
            return f"merchant_id {merchant_id} is not the merchant of terminal {terminal_id}"
        if code is not None and code not in self.catalog:
            return f"code {code} is not in the exception catalog"
        return None

    def store(
        self, raws: Sequence[Any], *, transport: str, credential_terminal: str | None = None
    ) -> list[EventResult]:
        with INGEST_SECONDS.labels(transport).time():
            results = self._store(raws, credential_terminal)
        counts = dict.fromkeys(Outcome, 0)
        for r in results:
            counts[r.outcome] += 1
        for outcome, n in counts.items():
            if n:
                EVENTS.labels(transport, outcome.value).inc(n)
        return results

    def _store(self, raws: Sequence[Any], credential_terminal: str | None) -> list[EventResult]:
        parsed = parse_events(raws)
        results: list[EventResult | None] = [None] * len(parsed)
        now = self.clock.now()
        stored_outcome, duplicate, rejected = Outcome.STORED, Outcome.DUPLICATE, Outcome.REJECTED
        with self.sessions.begin() as session:
            ids = {p[0]["terminal_id"] for p in parsed if not isinstance(p, EventError)}
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
            # the common case, checked inline: the event's terminal is the credential's (or any
            # known one over MQTT), not revoked, of its merchant, with no code or a known one
            catalog = self.catalog
            rows: list[EventInsert] = []
            accepted: list[tuple[int, EventInsert]] = []
            keyed: set[tuple[str, int]] = set()
            for i, p in enumerate(parsed):
                if isinstance(p, EventError):
                    results[i] = EventResult(i, rejected, reason=str(p))
                    continue
                f, data = p
                tid, mid, seq, code = f["terminal_id"], f["merchant_id"], f["seq"], f.get("code")
                known = terminals.get(tid)
                if (
                    known is None
                    or known[1]
                    or known[0] != mid
                    or (credential_terminal is not None and tid != credential_terminal)
                    or (code is not None and code not in catalog)
                ):
                    reason = self._refusal(tid, mid, code, credential_terminal, terminals)
                    results[i] = EventResult(i, rejected, tid, seq, reason)
                    continue
                key = (tid, seq)
                if key in keyed:
                    results[i] = EventResult(i, duplicate, tid, seq)
                    continue
                keyed.add(key)
                row = (tid, mid, seq, f["ts"], _KIND_TEXT[f["kind"]], code, data)
                rows.append(row)
                accepted.append((i, row))
            stored = insert_event_rows(session, rows=rows, received_at=now)
            for i, (tid, _mid, seq, _ts, kind, _code, _data) in accepted:
                if (tid, seq) in stored:
                    results[i] = EventResult(i, stored_outcome, tid, seq)
                    if kind == _COMMAND_RESULT:
                        ev = parsed[i]
                        assert not isinstance(ev, EventError)
                        complete_command(
                            session, terminal_id=tid, data=ev[0].get("data", {}), now=now
                        )
                else:
                    results[i] = EventResult(i, duplicate, tid, seq)
        return [r for r in results if r is not None]
