"""The ingest store on SQLite and PostgreSQL: one call, every kind of verdict, exact per event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import Command, EventRow, Terminal
from posguard.fleet.ingest.store import EventStore, Outcome
from posguard.fleet.repo.commands import issue_command
from posguard.fleet.repo.terminals import revoke_terminal

from .conftest import T0, FleetDB, event, register


def test_one_batch_gets_an_exact_verdict_per_event(fleet_db: FleetDB, clock: FakeClock) -> None:
    for tid in ("T1", "T2", "T3"):
        register(fleet_db, tid)
    with fleet_db.sessions.begin() as s:
        t3 = s.get(Terminal, "T3")
        assert t3 is not None
        revoke_terminal(s, terminal=t3)
        t1 = s.get(Terminal, "T1")
        assert t1 is not None
        cmd_id = issue_command(s, terminal=t1, name="reboot", args={}, issued_by="ops", now=T0).id
    store = EventStore(fleet_db.sessions, catalog=default_catalog(), clock=clock)
    store.store([event("T1", 1), event("T1", 2)], transport="test")  # stored earlier
    clock.advance(1)
    batch = [
        event("T1", 2),  # 0: resend of a stored event
        event("T1", 3),  # 1: new
        event("T1", 3),  # 2: the same key twice in one batch
        event("T9", 1),  # 3: unknown terminal
        event("T3", 1),  # 4: revoked
        event("T2", 1, merchant_id="M99"),  # 5: not its merchant
        event("T2", 2, kind="fault", code="NET.NO_SUCH_CODE"),  # 6: not in the catalog
        event("T2", 3, data={"pan": "4111 1111 1111 1111"}),  # 7: a clear PAN
        {"seq": 4},  # 8: schema
        event("T2", 5, kind="fault", code="NET.READ_TIMEOUT", data={"rrn": "412345678901"}),
        event("T1", 4, kind="command_result", data={"command_id": cmd_id, "status": "ok"}),
    ]
    results = store.store(batch, transport="test")
    assert [r.index for r in results] == list(range(len(batch)))
    assert [r.outcome for r in results] == [
        Outcome.DUPLICATE, Outcome.STORED, Outcome.DUPLICATE, Outcome.REJECTED, Outcome.REJECTED,
        Outcome.REJECTED, Outcome.REJECTED, Outcome.REJECTED, Outcome.REJECTED, Outcome.STORED,
        Outcome.STORED,
    ]  # fmt: skip
    reasons = [r.reason or "" for r in results]
    assert "unknown terminal T9" in reasons[3]
    assert "revoked" in reasons[4]
    assert "not the merchant" in reasons[5]
    assert "NET.NO_SUCH_CODE" in reasons[6]
    assert "data.pan" in reasons[7]
    assert "4111" not in reasons[7]
    assert "terminal_id" in reasons[8]
    assert (results[9].terminal_id, results[9].seq) == ("T2", 5)
    with fleet_db.sessions() as s:
        keys = {(t, q) for t, q in s.execute(select(EventRow.terminal_id, EventRow.seq))}
        assert keys == {("T1", 1), ("T1", 2), ("T1", 3), ("T1", 4), ("T2", 5)}
        row = s.scalars(select(EventRow).where(EventRow.terminal_id == "T2")).one()
        assert (row.kind, row.code, row.data) == (
            "fault",
            "NET.READ_TIMEOUT",
            {"rrn": "412345678901"},
        )
        assert row.ts == T0
        assert row.received_at == clock.now()
        cmd = s.get(Command, cmd_id)
        assert cmd is not None
        assert cmd.status == "succeeded"
        assert s.scalar(select(func.count()).select_from(EventRow)) == 5


def test_a_batch_larger_than_one_statement_lands_whole(fleet_db: FleetDB, clock: FakeClock) -> None:
    register(fleet_db, "T1")
    store = EventStore(fleet_db.sessions, catalog=default_catalog(), clock=clock)
    first = store.store([event("T1", i) for i in range(1500)], transport="test")
    again = store.store([event("T1", i) for i in range(1490, 2600)], transport="test")
    assert {r.outcome for r in first} == {Outcome.STORED}
    assert [r.outcome for r in again].count(Outcome.DUPLICATE) == 10
    assert [r.outcome for r in again].count(Outcome.STORED) == 1100
    with fleet_db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(EventRow)) == 2600


def test_sqlite_times_are_utc_text_whatever_the_offset() -> None:
    from datetime import UTC, datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    from posguard.fleet.repo.event_insert import sqlite_params, sqlite_time

    stamps = [
        datetime(2026, 11, 25, 18, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8))),
        datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(2026, 11, 25, 4, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    ]
    rows = [("T1", "M01", i, ts, "heartbeat", None, "{}") for i, ts in enumerate(stamps)]
    params = sqlite_params(rows, stamps[0])
    assert [params[9 * i + 3] for i in range(len(stamps))] == [sqlite_time(t) for t in stamps]
    assert params[3] == "2026-11-25 10:00:00.123456"
    assert params[4] == "2026-11-25 10:00:00.123456"


def test_two_inserts_in_one_transaction_each_report_only_their_own_rows(fleet_db: FleetDB) -> None:
    from posguard.fleet.repo.event_insert import insert_event_rows

    register(fleet_db, "T1")

    def rows(seqs: range) -> list[tuple[str, str, int, datetime, str, None, str]]:
        return [("T1", "M01", s, T0, "heartbeat", None, '{"n": 1}') for s in seqs]

    with fleet_db.sessions.begin() as s:
        first = insert_event_rows(s, rows=rows(range(0, 10)), received_at=T0)
        second = insert_event_rows(s, rows=rows(range(5, 15)), received_at=T0)
    assert first == {("T1", i) for i in range(10)}
    assert second == {("T1", i) for i in range(10, 15)}
    with fleet_db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(EventRow)) == 15


def test_a_chunk_holding_a_stored_key_is_redone_and_reports_only_its_new_rows(
    sqlite_db: FleetDB,
) -> None:
    """The optimistic plain insert fails whole on a stored key; the chunk is inserted again
    reporting only its own new rows, and the transaction's earlier work survives."""
    from posguard.fleet.repo import event_insert

    register(sqlite_db, "T1")

    def rows(seqs: range) -> list[tuple[str, str, int, datetime, str, None, str]]:
        return [("T1", "M01", s, T0, "heartbeat", None, '{"n": 1}') for s in seqs]

    with sqlite_db.sessions.begin() as s:
        assert event_insert.insert_event_rows(s, rows=rows(range(0, 3)), received_at=T0) == {
            ("T1", i) for i in range(3)
        }
    with sqlite_db.sessions.begin() as s:
        before = event_insert.insert_event_rows(s, rows=rows(range(10, 12)), received_at=T0)
        resent = event_insert.insert_event_rows(s, rows=rows(range(0, 6)), received_at=T0)
    assert before == {("T1", 10), ("T1", 11)}
    assert resent == {("T1", i) for i in range(3, 6)}
    with sqlite_db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(EventRow)) == 8
