"""A burst of incidents opened in one diagnosis step (issue #15, docs/scaling.md): the step's
plain opens are written set-based, so their cost in statements does not grow with the burst,
and the result is the same as applying the decisions one at a time: the same incidents, links,
commands, audit entries and notifications; a replay records nothing twice."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import (
    Command,
    EventRow,
    Incident,
    IncidentAudit,
    IncidentEvent,
    NotificationOutbox,
)
from posguard.fleet.diagnosis.observed import Clear, Decision, Open
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.service import observed
from posguard.fleet.incidents import IncidentApplier
from posguard.fleet.ingest.store import EventStore
from posguard.fleet.notify.hook import install, uninstall

from .conftest import T0, FleetDB, register
from .conftest import event as make_event
from .notify.conftest import webhook_config

CATALOG = default_catalog()
RULES = {r.id: r for r in load_rules(catalog=CATALOG)}
NOW = T0 + timedelta(seconds=2)


@pytest.fixture
def notified(fleet_db: FleetDB, monkeypatch: pytest.MonkeyPatch) -> Iterator[FleetDB]:
    """The fleet database with the notification hook installed (it enqueues on opens)."""
    monkeypatch.setenv("PG_TEST_HOOK_SECRET", "whsec-test-0123456789abcdef")
    config = webhook_config("http://127.0.0.1:9")
    hook = install(fleet_db.sessions, config=config, catalog=CATALOG, clock=FakeClock(NOW))
    try:
        yield fleet_db
    finally:
        uninstall(fleet_db.sessions, hook)


def _terminals(db: FleetDB, n: int) -> dict[str, list[Any]]:
    """``n`` terminals, each with a paper-out and two MAC errors stored: id -> its events."""
    store = EventStore(db.sessions, catalog=CATALOG, clock=FakeClock(NOW))
    batch = []
    for i in range(n):
        tid = f"B{i:03d}"
        register(db, tid, host="acq-east", area=f"a{i % 3}")
        batch += [
            make_event(tid, 1, kind="fault", code="PRN.PAPER_OUT", ts=T0),
            make_event(tid, 2, kind="fault", code="TXN.MAC_ERROR", ts=T0),
            make_event(tid, 3, kind="fault", code="TXN.MAC_ERROR", ts=T0 + timedelta(seconds=1)),
            make_event(tid, 4, kind="fault", code="SW.UPDATE_FAILED", ts=T0 + timedelta(seconds=1)),
        ]
    store.store(batch, transport="test")
    out: dict[str, list[Any]] = {}
    with db.sessions() as s:
        for row in s.scalars(select(EventRow).order_by(EventRow.id)):
            out.setdefault(row.terminal_id, []).append(observed(row))
    return out


def _opens(events: dict[str, list[Any]], tids: Sequence[str]) -> list[Decision]:
    """A paper-out and a MAC-error incident (with its re-sign-on command) per terminal."""
    out: list[Decision] = []
    for tid in tids:
        paper, mac1, mac2, _update = events[tid]
        out.append(_open("printer-paper-out", "PRN.PAPER_OUT", (paper,)))
        out.append(_open("mac-errors", "TXN.MAC_ERROR", (mac1, mac2)))
    return out


def _open(rule_id: str, code: str, events: tuple[Any, ...]) -> Open:
    first = events[0]
    return Open(
        rule_id=rule_id,
        scope=f"terminal:{first.terminal_id}",
        code=code,
        at=events[-1].ts,
        reason=f"{code} seen",
        events=events,
        terminal_id=first.terminal_id,
        merchant_id=first.merchant_id,
        cause=first.anchor,
    )


def _begin(s: Session) -> None:
    """Begin the transaction with a write that matches nothing: pysqlite begins one only at a
    write, and a savepoint outside one would commit at its release (the rollback would not
    undo it)."""
    s.execute(update(EventRow).where(EventRow.id < 0).values(seq=0))


def _group(events: dict[str, list[Any]], tids: Sequence[str]) -> Open:
    """The firmware rollout incident, its members ``tids`` (empty: the first opening)."""
    evs = tuple(events[t][3] for t in tids) or (events["B000"][3],)
    return Open(
        rule_id="bad-firmware-rollout",
        scope="model:PX-5",
        code="SW.UPDATE_FAILED",
        at=evs[-1].ts,
        reason="more of the same while open",
        events=evs,
        members=tuple(tids),
        cause="" if tids else "B000#4",
    )


def _update(events: dict[str, list[Any]], tid: str) -> Open:
    return _open("update-failed", "SW.UPDATE_FAILED", (events[tid][3],))


def _statements(db: FleetDB, decisions: Sequence[Decision]) -> int:
    """Statements sent to the database by applying ``decisions`` (rolled back after)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    applier = IncidentApplier(rules=RULES, catalog=CATALOG)
    with db.sessions() as s:
        _begin(s)  # count only the applier's statements
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            applied = applier.apply(s, decisions, now=NOW)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert len(applied.opened) == len(decisions)
        s.rollback()
    return len(seen)


def test_a_burst_costs_the_same_statements_whatever_its_size(notified: FleetDB) -> None:
    events = _terminals(notified, 60)
    tids = sorted(events)
    small = _statements(notified, _opens(events, tids[:3]))
    large = _statements(notified, _opens(events, tids))  # 120 incidents, 60 commands
    if notified.dialect == "postgresql":
        assert large == small  # multi-row INSERT ... RETURNING for incidents and audit entries
        assert large <= 16  # one by one, 120 incidents were ~7 statements each
    else:
        # SQLite does not promise RETURNING's row order, so SQLAlchemy inserts rows with
        # database-made ids one at a time (in-process, no round trip): everything else is batched
        assert large - small == (120 - 6) + (60 - 3)  # incidents and command audit entries


def _snapshot(s: Session) -> dict[str, Any]:
    """Everything the applier wrote, by cause rather than by row id (ids are not reused)."""
    cause = {i.id: i.cause_key for i in s.scalars(select(Incident))}
    incidents = sorted(
        (
            i.cause_key or "",
            i.open_key,
            i.rule_id,
            i.scope,
            i.code,
            i.severity,
            i.status,
            i.terminal_id,
            i.merchant_id,
            repr(i.explanation),
            i.opened_at,
            i.detected_at,
            i.resolved_at,
        )
        for i in s.scalars(select(Incident))
    )
    links = sorted(
        (cause[r.incident_id] or "", r.event_id) for r in s.scalars(select(IncidentEvent))
    )
    commands = sorted(
        (cause.get(c.incident_id or 0) or "", c.terminal_id, c.name, c.issued_at, c.expires_at)
        for c in s.scalars(select(Command))
    )
    audit = sorted(
        (cause[a.incident_id] or "", a.action, a.actor, a.at, a.details.get("command"))
        for a in s.scalars(select(IncidentAudit))
    )
    outbox = sorted(
        (cause.get(o.incident_id or 0) or "", o.transition, o.channel, o.recipient)
        for o in s.scalars(select(NotificationOutbox))
    )
    return {
        "incidents": incidents,
        "links": links,
        "commands": commands,
        "audit": audit,
        "outbox": outbox,
    }


def _applied(db: FleetDB, decisions: Sequence[Decision], *, burst: bool) -> dict[str, Any]:
    applier = IncidentApplier(rules=RULES, catalog=CATALOG)
    with db.sessions() as s:
        _begin(s)
        if burst:
            applier.apply(s, decisions, now=NOW)
        else:
            applier.apply_one_by_one(s, decisions, now=NOW)
        s.flush()
        snap = _snapshot(s)
        s.rollback()
    return snap


def test_a_burst_yields_what_one_by_one_yields(notified: FleetDB) -> None:
    events = _terminals(notified, 8)
    tids = sorted(events)
    # an incident of this cause was recorded and closed before: a replay must not reopen it
    with notified.sessions.begin() as s:
        IncidentApplier(rules=RULES, catalog=CATALOG).apply(s, _opens(events, tids[:1])[:1])
        IncidentApplier(rules=RULES, catalog=CATALOG).apply(
            s, [Clear("printer-paper-out", f"terminal:{tids[0]}", NOW, "paper back")]
        )
    opens = _opens(events, tids)
    mixed: list[Decision] = [
        *opens[:5],
        opens[2],  # the same decision again in the step: it extends, nothing doubles
        Clear("mac-errors", f"terminal:{tids[1]}", NOW, "quiet"),  # closes one opened above
        _open("mac-errors", "TXN.MAC_ERROR", (events[tids[1]][2],)),  # a new cause: reopens
        *opens[5:],
    ]
    # a fleet-wide incident open before the step, and two terminals' failed updates: the step
    # extends it with new members (swallowing open incidents of theirs, and one opened in the
    # same step before the extension, but not one opened after)
    with notified.sessions.begin() as s:
        IncidentApplier(rules=RULES, catalog=CATALOG).apply(
            s, [_group(events, []), _update(events, tids[2]), _update(events, tids[3])]
        )
    mixed += [
        _update(events, tids[4]),
        _group(events, tids[2:5]),
        _update(events, tids[5]),
        _group(events, tids[5:7]),
        _update(events, tids[6]),  # after the extension that named it: stays open
        _group(events, [tids[7]]),
    ]
    burst = _applied(notified, mixed, burst=True)
    assert burst == _applied(notified, mixed, burst=False)
    merged = [i for i in burst["incidents"] if i[6] == "merged"]
    assert sorted(i[7] for i in merged) == sorted(tids[2:6])
    opened = [i for i in burst["incidents"] if i[6] == "open"]
    # the recorded cause is not opened again; the group and one failed update are open
    assert len(opened) == 2 * len(tids) - 1 + 2
    assert len({i[1] for i in opened}) == len(opened)  # open_key unique while open
    assert len(burst["commands"]) == len(tids) + 1
    assert {o[1] for o in burst["outbox"]} >= {"open", "resolve"}


def test_a_replayed_burst_records_nothing_twice(notified: FleetDB) -> None:
    events = _terminals(notified, 10)
    decisions = _opens(events, sorted(events))
    applier = IncidentApplier(rules=RULES, catalog=CATALOG)
    with notified.sessions.begin() as s:
        first = applier.apply(s, decisions, now=NOW)
    with notified.sessions.begin() as s:
        again = applier.apply(s, decisions, now=NOW + timedelta(seconds=5))
    assert len(first.opened) == 20
    assert len(first.commands) == 10
    assert again.opened == []
    assert again.commands == []
    assert sorted(again.extended) == sorted(first.opened)  # still open: extended, not doubled
    with notified.sessions() as s:
        assert len(s.scalars(select(Incident)).all()) == 20
        assert len(s.scalars(select(Command)).all()) == 10
        assert len(s.scalars(select(NotificationOutbox)).all()) == 20


def test_extending_an_open_group_costs_the_same_statements_for_any_burst(
    notified: FleetDB,
) -> None:
    events = _terminals(notified, 60)
    tids = sorted(events)
    with notified.sessions.begin() as s:  # the group is open, with a failed update each
        IncidentApplier(rules=RULES, catalog=CATALOG).apply(
            s, [_group(events, []), *(_update(events, t) for t in tids)]
        )

    def cost(members: Sequence[str]) -> tuple[int, int]:
        seen: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            seen.append(statement)

        with notified.sessions() as s:
            _begin(s)
            event.listen(notified.engine, "before_cursor_execute", count)
            try:  # one extension per further failed update, as the correlator decides them
                applied = IncidentApplier(rules=RULES, catalog=CATALOG).apply(
                    s, [_group(events, [t]) for t in members], now=NOW
                )
            finally:
                event.remove(notified.engine, "before_cursor_execute", count)
            merged = s.scalar(
                select(func.count()).select_from(Incident).where(Incident.status == "merged")
            )
            assert len(applied.extended) == len(members)
            s.rollback()
        return len(seen), int(merged or 0)

    small, large = cost(tids[:3]), cost(tids)
    assert (small[1], large[1]) == (3, 60)  # each member's own incident merged into the group
    assert large[0] == small[0]
    assert large[0] <= 8  # one by one, 60 extensions were ~4 statements each


@pytest.mark.postgres
def test_a_burst_meeting_a_concurrent_diagnoser_falls_back_one_by_one(
    pg_db: FleetDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another diagnoser commits one of the burst's incidents between the burst's look-up and
    its insert: the savepoint rolls back, the batch goes one by one, nothing is doubled."""
    from posguard.fleet import incident_burst

    events = _terminals(pg_db, 5)
    decisions = _opens(events, sorted(events))
    look_up = incident_burst._open_now
    raced: list[bool] = []

    def racing(session: Session, keys: set[str]) -> dict[str, Incident]:
        found = look_up(session, keys)
        if raced:
            return found
        raced.append(True)
        with pg_db.sessions.begin() as other:  # the other diagnoser, in its own transaction
            IncidentApplier(rules=RULES, catalog=CATALOG).apply(other, decisions[3:4], now=NOW)
        return found

    monkeypatch.setattr(incident_burst, "_open_now", racing)
    with pg_db.sessions.begin() as s:
        applied = IncidentApplier(rules=RULES, catalog=CATALOG).apply(s, decisions, now=NOW)
    assert len(applied.opened) == len(decisions) - 1
    assert len(applied.extended) == 1
    with pg_db.sessions() as s:
        keys = [i.open_key for i in s.scalars(select(Incident))]
    assert len(keys) == len(decisions) == len(set(keys))


def _clears(tids: Sequence[str]) -> list[Decision]:
    return [Clear("printer-paper-out", f"terminal:{t}", NOW, "paper back") for t in tids]


def test_clearing_costs_the_same_statements_for_any_burst(notified: FleetDB) -> None:
    """Clears of incidents open before the step are resolved set-based too."""
    events = _terminals(notified, 60)
    tids = sorted(events)
    with notified.sessions.begin() as s:
        IncidentApplier(rules=RULES, catalog=CATALOG).apply(s, _opens(events, tids)[::2])

    def cost(members: Sequence[str]) -> int:
        seen: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            seen.append(statement)

        with notified.sessions() as s:
            _begin(s)
            event.listen(notified.engine, "before_cursor_execute", count)
            try:
                applied = IncidentApplier(rules=RULES, catalog=CATALOG).apply(
                    s, _clears(members), now=NOW
                )
            finally:
                event.remove(notified.engine, "before_cursor_execute", count)
            assert len(applied.resolved) == len(members)
            resolved = s.scalar(
                select(func.count()).select_from(Incident).where(Incident.status == "resolved")
            )
            assert resolved == len(members)
            s.rollback()
        return len(seen)

    small, large = cost(tids[:3]), cost(tids)
    if notified.dialect == "postgresql":
        assert large == small  # one UPDATE for all, one multi-row insert of the audit entries
        assert large <= 6  # one by one, 60 clears were 3 statements each
    else:  # SQLite inserts the audit entries one at a time (in-process, see above)
        assert large - small == 60 - 3


def test_set_based_clears_yield_what_one_by_one_yields(notified: FleetDB) -> None:
    events = _terminals(notified, 8)
    tids = sorted(events)
    with notified.sessions.begin() as s:  # open before the step: paper-outs, the group, updates
        IncidentApplier(rules=RULES, catalog=CATALOG).apply(
            s,
            [
                *_opens(events, tids)[::2],
                _group(events, []),
                *(_update(events, t) for t in tids[:6]),
            ],
        )
    updates = [Clear("update-failed", f"terminal:{t}", NOW, "updated") for t in tids]
    mixed: list[Decision] = [
        *_clears(tids[:3]),
        _clears(tids[:1])[0],  # cleared twice in the step: once
        _open("printer-paper-out", "PRN.PAPER_OUT", (events[tids[1]][1],)),  # reopens
        updates[0],  # cleared, then named by the extension below: stays resolved
        _group(events, tids[:2]),  # swallows tids[1]'s open update
        updates[1],  # merged just before: nothing to clear
        _group(events, [tids[2]]),
        updates[2],
        *_clears(tids[3:]),
        updates[7],  # never open
    ]
    burst = _applied(notified, mixed, burst=True)
    assert burst == _applied(notified, mixed, burst=False)
    statuses = {(*i[2:4], i[6]) for i in burst["incidents"] if i[2] == "update-failed"}
    assert ("update-failed", f"terminal:{tids[0]}", "resolved") in statuses
    assert ("update-failed", f"terminal:{tids[1]}", "merged") in statuses
    assert ("update-failed", f"terminal:{tids[2]}", "merged") in statuses
    # the 8 paper-outs and tids[0]'s update; the reopened paper-out of tids[1] stays open
    assert len([a for a in burst["audit"] if a[1] == "resolved"]) == len(tids) + 1
