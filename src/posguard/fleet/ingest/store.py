"""Validate a batch of raw events and store it: each event is stored, a duplicate, or rejected
with a reason; a bad event never stops the rest of its batch.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from posguard.catalog.model import Entry
from posguard.common.errors import EventError
from posguard.common.event_batch import (
    BatchTooLargeError,
    ParsedEvent,
    parse_batch_json,
    parse_events,
)
from posguard.common.events import EventKind
from posguard.fleet.clock import Clock
from posguard.fleet.db.models import Terminal
from posguard.fleet.db.write_lock import SqliteWriteLock, sqlite_database_path
from posguard.fleet.metrics import EVENTS, INGEST_SECONDS
from posguard.fleet.network_report.rollup import note_late
from posguard.fleet.repo.commands import complete_command
from posguard.fleet.repo.event_insert import (
    EventInsert,
    prepare_event_rows,
    write_prepared_rows,
)
from posguard.fleet.repo.heartbeat_samples import DEFAULT_SAMPLE_S, upsert_samples
from posguard.fleet.repo.liveness import Heartbeat, upsert_heartbeats

_KIND_TEXT = {k: k.value for k in EventKind}
_TERMINALS_BY_ID = select(Terminal.id, Terminal.merchant_id, Terminal.revoked).where(
    Terminal.id.in_(bindparam("ids", expanding=True))
)
_PG_TERMINALS_BY_ID = "SELECT id, merchant_id, revoked FROM terminals WHERE id = ANY(%b::text[])"
"""PostgreSQL: one array parameter, so the text is the same whatever the number of ids (an
expanding ``IN`` is a new statement for psycopg to parse at every batch size)."""
_COMMAND_RESULT = EventKind.COMMAND_RESULT.value
_HEARTBEAT = EventKind.HEARTBEAT.value


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ≈1 µs an event on this hot path
class EventResult:
    index: int
    outcome: Outcome
    terminal_id: str | None = None
    seq: int | None = None
    reason: str | None = None


def outcome_counts(results: Sequence[EventResult]) -> dict[Outcome, int]:
    """How many results have each outcome (every outcome present, 0 when none).

    >>> outcome_counts([EventResult(0, Outcome.STORED), EventResult(1, Outcome.STORED)])[
    ...     Outcome.STORED]
    2
    """
    counts = dict.fromkeys(Outcome, 0)
    for r in results:
        counts[r.outcome] += 1
    return counts


def settled(r: EventResult) -> bool:
    """Whether the fleet now holds this event for good (stored, or stored before), so the
    terminal may forget it (:mod:`posguard.common.event_ack`). A refused event is not: an unknown
    or revoked terminal may be registered again, and an event the fleet's catalog does not know
    yet may be accepted after an upgrade, so the terminal keeps it and resends it with backoff.

    >>> settled(EventResult(0, Outcome.DUPLICATE, "T1", 7))
    True
    >>> settled(EventResult(1, Outcome.REJECTED, "T1", 8, "unknown terminal T1"))
    False
    """
    return r.outcome is not Outcome.REJECTED and r.terminal_id is not None and r.seq is not None


class EventStore:
    """The one ingest path. ``credential_terminal`` (HTTP) pins every event to that terminal;
    over MQTT it is None and the event's terminal must simply be known and not revoked.

    A heartbeat is not an events row: it upserts its terminal's liveness row and, when it is
    the earliest of its sample period (``heartbeat_sample_s``), the sampled history
    (:mod:`posguard.fleet.repo.heartbeat_samples`), both in the batch's transaction.

    A batch costs one schema validation call (:mod:`posguard.common.event_batch`), at most one
    terminal lookup and one insert statement per 1,000 events; per event only the checks below
    and building its row run in Python.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        catalog: Mapping[str, Entry],
        clock: Clock,
        heartbeat_sample_s: int = DEFAULT_SAMPLE_S,
    ) -> None:
        if heartbeat_sample_s < 1:
            raise ValueError(f"heartbeat_sample_s must be >= 1, not {heartbeat_sample_s}")
        self.sessions = sessions
        self.heartbeat_sample_s = heartbeat_sample_s
        self.catalog = catalog
        self.clock = clock
        bind = sessions.kw.get("bind")
        self._dialect: str = bind.dialect.name if bind is not None else "sqlite"
        # SQLite: one store call at a time per process. Threads cannot validate in parallel
        # (the GIL), and a thread waiting to get the GIL back after each SQLite call while
        # another validates costs up to a switch interval (5 ms) a call: 2 threads stored
        # fewer events/s than 1. Processes (HTTP workers, MQTT workers) are what scale.
        self._gate: AbstractContextManager[Any] = (
            threading.Lock() if self._dialect == "sqlite" else nullcontext()
        )
        self._write_lock: AbstractContextManager[Any] = (
            SqliteWriteLock(sqlite_database_path(bind.url.database if bind else None))
            if self._dialect == "sqlite"
            else nullcontext()
        )

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
        self,
        raws: Sequence[Any],
        *,
        transport: str,
        credential_terminal: str | None = None,
        known_terminal: Terminal | None = None,
    ) -> list[EventResult]:
        """Validate and store decoded events (objects, or JSON bytes/text each).
        ``known_terminal``: the terminal row the caller has just read (the credential check),
        so a batch of that terminal's own events needs no lookup."""
        return self._run(lambda: parse_events(raws), transport, credential_terminal, known_terminal)

    def store_batch_json(
        self,
        body: bytes | str,
        *,
        transport: str,
        credential_terminal: str | None = None,
        known_terminal: Terminal | None = None,
        max_events: int | None = None,
    ) -> list[EventResult]:
        """Validate and store a batch envelope ``{"events": [...]}`` straight from its JSON
        text (one validation pass over the bytes in the common case). Raises
        :class:`~posguard.common.event_batch.BatchError` when the body is not such an envelope,
        :class:`~posguard.common.event_batch.BatchTooLargeError` when it holds more than
        ``max_events``; nothing is stored then."""

        def parse() -> list[ParsedEvent | EventError]:
            parsed = parse_batch_json(body)
            if max_events is not None and len(parsed) > max_events:
                raise BatchTooLargeError(
                    f"at most {max_events} events per batch, got {len(parsed)}"
                )
            return parsed

        return self._run(parse, transport, credential_terminal, known_terminal)

    def store_parsed(
        self, parsed: list[ParsedEvent | EventError], *, transport: str
    ) -> list[EventResult]:
        """Store events already validated by :mod:`posguard.common.event_batch` (a transport
        that validated straight from its payload bytes)."""
        return self._run(lambda: parsed, transport, None, None)

    def _run(
        self,
        parse: Callable[[], list[ParsedEvent | EventError]],
        transport: str,
        credential_terminal: str | None,
        known_terminal: Terminal | None,
    ) -> list[EventResult]:
        """Validate (inside the per-process gate and the timing) and store, then count."""
        with self._gate, INGEST_SECONDS.labels(transport).time():
            results = self._store(parse(), credential_terminal, known_terminal)
        return self._counted(results, transport)

    @staticmethod
    def _counted(results: list[EventResult], transport: str) -> list[EventResult]:
        for outcome, n in outcome_counts(results).items():
            if n:
                EVENTS.labels(transport, outcome.value).inc(n)
        return results

    def _terminals(
        self, ids: set[str], known: Terminal | None, session: Session
    ) -> Mapping[str, tuple[str, bool]]:
        """terminal_id -> (merchant_id, revoked) for the known ones among ``ids``. A batch
        that names only the terminal its credential was just checked against needs no query.
        PostgreSQL reads them in the batch's own transaction (one connection checkout and
        round trip fewer a batch); SQLite on a connection of its own, so none is held while
        the batch is validated."""
        if not ids:
            return {}
        if known is not None and ids == {known.id}:
            return {known.id: (known.merchant_id, known.revoked)}
        if self._dialect == "postgresql":
            found = session.connection().exec_driver_sql(_PG_TERMINALS_BY_ID, (list(ids),))
            return {tid: (mid, bool(revoked)) for tid, mid, revoked in found}
        with self.sessions.kw["bind"].connect() as conn:
            return {
                tid: (mid, bool(revoked))
                for tid, mid, revoked in conn.execute(_TERMINALS_BY_ID, {"ids": list(ids)})
            }

    def _store(
        self,
        parsed: list[ParsedEvent | EventError],
        credential_terminal: str | None,
        known_terminal: Terminal | None,
    ) -> list[EventResult]:
        with self.sessions() as session:
            return self._store_in(session, parsed, credential_terminal, known_terminal)

    def _store_in(
        self,
        session: Session,
        parsed: list[ParsedEvent | EventError],
        credential_terminal: str | None,
        known_terminal: Terminal | None,
    ) -> list[EventResult]:
        results: list[EventResult | None] = [None] * len(parsed)
        now = self.clock.now()
        stored_outcome, duplicate, rejected = Outcome.STORED, Outcome.DUPLICATE, Outcome.REJECTED
        terminals = self._terminals(
            {p[0]["terminal_id"] for p in parsed if not isinstance(p, EventError)},
            known_terminal,
            session,
        )
        # the common case, checked inline: the event's terminal is the credential's (or any
        # known one over MQTT), not revoked, of its merchant, with no code or a known one
        catalog = self.catalog
        rows: list[EventInsert] = []
        accepted: list[tuple[int, EventInsert]] = []
        beats: list[Heartbeat] = []
        beat_at: list[tuple[int, str, int]] = []
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
            kind = _KIND_TEXT[f["kind"]]
            if kind == _HEARTBEAT:  # not an events row: the terminal's liveness row
                beats.append(Heartbeat(tid, mid, seq, f["ts"], json.loads(data), data))
                beat_at.append((i, tid, seq))
                continue
            row = (tid, mid, seq, f["ts"], kind, code, data)
            rows.append(row)
            accepted.append((i, row))
        # on SQLite everything above is Python with no connection held; only the write below is
        # serialised across processes (by SqliteWriteLock), so while one process writes its
        # batch another validates its own
        prepared = prepare_event_rows(self._dialect, rows, now)
        with self._write_lock:
            stored = write_prepared_rows(session, prepared)
            newer = upsert_heartbeats(session, beats, now) if beats else set()
            sampled = (
                upsert_samples(session, beats, now, self.heartbeat_sample_s) if beats else set()
            )
            note_late(session, [r[3] for r in rows] + [b.ts for b in beats], now)
            for i, (tid, _mid, seq, _ts, kind, _code, _data) in accepted:
                if kind == _COMMAND_RESULT and (tid, seq) in stored:
                    ev = parsed[i]
                    assert not isinstance(ev, EventError)
                    result = ev[0].get("data", {})
                    complete_command(session, terminal_id=tid, data=result, now=now)
            session.commit()
        for i, (tid, _mid, seq, _ts, _kind, _code, _data) in accepted:
            outcome = stored_outcome if (tid, seq) in stored else duplicate
            results[i] = EventResult(i, outcome, tid, seq)
        # a heartbeat is stored when it became its terminal's liveness row or the sample of its
        # period; one that is neither (a resend, or superseded within its period and by a newer
        # one) is settled as a duplicate
        kept = newer | sampled
        for i, tid, seq in beat_at:
            outcome = stored_outcome if (tid, seq) in kept else duplicate
            results[i] = EventResult(i, outcome, tid, seq)
        return [r for r in results if r is not None]
