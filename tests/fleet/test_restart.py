"""A restart of the diagnosis does not rewrite history (issue #15).

Each test runs a story through one diagnoser, starts a *second* diagnoser on the same database
(a new process after kill -9 or an upgrade: nothing in memory survives), and checks that it
reaches the decisions already recorded: no incident opened twice for one cause, none closed
before it opened, and no terminal declared dead for the service's own downtime.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import DiagnosisState, EventRow, Incident, TerminalLiveness
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.service import DiagnosisService
from posguard.fleet.repo import commands as command_repo
from posguard.fleet.repo.terminals import get_terminal

from .conftest import T0, FleetDB, register
from .test_rules import Rig


def restart(rig: Rig, replay_s: float = 900.0) -> None:
    """Throw the diagnoser away and start a new one on the same database."""
    catalog = default_catalog()
    rig.diag = DiagnosisService(
        rig.db.sessions, rules=load_rules(catalog=catalog), catalog=catalog, clock=rig.clock
    )
    rig.diag.start(replay_s=replay_s)


def snapshot(rig: Rig) -> list[tuple[object, ...]]:
    return [
        (i.id, i.rule_id, i.scope, i.status, i.opened_at, i.resolved_at, i.parent_id)
        for i in rig.incidents()
    ]


def assert_truthful(rig: Rig | list[Incident]) -> None:
    """The invariants: closed after opened, and one incident per rule, scope and cause."""
    incidents = rig if isinstance(rig, list) else rig.incidents()
    for i in incidents:
        assert i.resolved_at is None or i.resolved_at >= i.opened_at, (i.id, i.rule_id)
    causes = [i.cause_key for i in incidents if i.cause_key]
    assert len(causes) == len(set(causes))
    by_scope: dict[tuple[str, str], list[Incident]] = {}
    for i in incidents:
        by_scope.setdefault((i.rule_id, i.scope), []).append(i)
    for same in by_scope.values():  # never two at once for one rule and scope
        same.sort(key=lambda i: i.opened_at)
        for a, b in itertools.pairwise(same):
            assert a.resolved_at is not None, (a.id, b.id)
            assert a.resolved_at <= b.opened_at, (a.id, b.id)


@pytest.fixture
def rig(fleet_db: FleetDB, clock: FakeClock) -> Rig:
    """Six terminals on one host (on SQLite and on PostgreSQL)."""
    for i in range(6):
        register(fleet_db, f"T{i}")
    return Rig(fleet_db, clock)


def _story(rig: Rig) -> None:
    """Heartbeats, a paper-out that clears, repeated timeouts, a printer that stays offline."""
    for k in range(6):
        for i in range(6):
            rig.send(f"T{i}", "heartbeat", at=T0 + timedelta(seconds=10 * k), interval_s=10)
    rig.send("T0", "fault", "PRN.PAPER_OUT", at=T0 + timedelta(seconds=5))
    rig.send("T0", "fault_cleared", "PRN.PAPER_OUT", at=T0 + timedelta(seconds=25))
    for k in range(3):
        rig.send("T1", "fault", "NET.READ_TIMEOUT", at=T0 + timedelta(seconds=20 + k))
    rig.send("T2", "fault", "PRN.OFFLINE", at=T0 + timedelta(seconds=30))
    rig.step()
    rig.clock.set(T0 + timedelta(seconds=55))
    rig.step()


def test_a_restart_reaches_the_decisions_already_recorded(rig: Rig) -> None:
    _story(rig)
    before = snapshot(rig)
    assert {(r[1], r[3]) for r in before} == {
        ("printer-paper-out", "resolved"),
        ("host-read-timeouts", "open"),
    }
    for _ in range(2):  # twice in a row, the second time also with the clock unchanged
        restart(rig)
        assert rig.diag.warmed_up > 0, "the replay rebuilt the rules' state"
        rig.step()
        assert snapshot(rig) == before
    # and the rebuilt state goes on deciding as the first diagnoser would have
    for i in range(6):
        rig.send(f"T{i}", "heartbeat", at=T0 + timedelta(seconds=60), interval_s=10)
    rig.clock.set(T0 + timedelta(seconds=330))  # PRN.OFFLINE since +30 s: 300 s now
    for i in range(6):
        rig.send(f"T{i}", "heartbeat", at=T0 + timedelta(seconds=330), interval_s=10)
    rig.step()
    (offline,) = rig.incidents("printer-offline")
    assert offline.status == "open"
    assert len(rig.incidents()) == len(before) + 1
    assert_truthful(rig)


def test_a_restart_without_a_saved_cursor_opens_nothing_twice(rig: Rig) -> None:
    """A database written before the cursor was kept: the replay still records nothing."""
    _story(rig)
    before = snapshot(rig)
    with rig.db.sessions.begin() as s:
        s.execute(delete(DiagnosisState))
    restart(rig)
    rig.step()
    assert snapshot(rig) == before
    assert_truthful(rig)


def test_events_stored_while_the_diagnoser_was_down_are_diagnosed_once(rig: Rig) -> None:
    _story(rig)
    for k in range(3):  # stored by ingest while no diagnoser runs
        rig.send("T3", "fault", "NET.READ_TIMEOUT", at=T0 + timedelta(seconds=56 + k))
    restart(rig)
    rig.step()
    restart(rig)
    rig.step()
    assert [i.scope for i in rig.incidents("host-read-timeouts")] == ["terminal:T1", "terminal:T3"]
    assert_truthful(rig)


def test_the_services_own_downtime_is_a_grace_period_not_a_dead_fleet(rig: Rig) -> None:
    _story(rig)
    rig.clock.advance(600)  # the service was down for ten minutes; terminals kept trying
    restart(rig)
    rig.step()
    assert rig.incidents("heartbeat-lost") == [], "nobody is dead for the service's downtime"
    back = rig.clock.now() + timedelta(seconds=5)
    for i in range(1, 6):  # five come back within the grace period, T0 does not
        rig.send(f"T{i}", "heartbeat", at=back, interval_s=10)
    rig.step(24)
    assert rig.incidents("heartbeat-lost") == []
    rig.step(2)  # 31 s after the restart: three intervals without a word from T0
    (lost,) = rig.incidents("heartbeat-lost")
    assert lost.scope == "terminal:T0"
    assert_truthful(rig)


def test_an_incident_never_closes_before_it_opened(rig: Rig) -> None:
    """A clear event stamped before the opening (the heartbeat-lost incident opens at the
    diagnoser's clock; a delayed heartbeat carries the terminal's earlier time)."""
    rig.send("T0", "heartbeat", at=T0, interval_s=10)
    rig.step(40)
    (lost,) = rig.incidents("heartbeat-lost")
    assert lost.opened_at == T0 + timedelta(seconds=40)
    rig.send("T0", "heartbeat", at=T0 + timedelta(seconds=35), interval_s=10)
    rig.step()
    (lost,) = rig.incidents("heartbeat-lost")
    assert lost.status == "resolved"
    assert lost.resolved_at == lost.opened_at
    assert lost.time_to_resolve_s == 0.0
    assert_truthful(rig)


def test_the_database_refuses_a_close_before_the_open(rig: Rig) -> None:
    with rig.db.sessions.begin() as s:
        s.add(
            Incident(
                rule_id="x",
                scope="terminal:T0",
                code="PRN.PAPER_OUT",
                severity="minor",
                status="resolved",
                explanation={},
                opened_at=T0,
                resolved_at=T0 - timedelta(seconds=1),
            )
        )
        with pytest.raises(IntegrityError):
            s.flush()
        s.rollback()


def test_an_announced_reboot_or_update_is_expected_downtime(rig: Rig) -> None:
    for i in (0, 1, 2):
        rig.send(f"T{i}", "heartbeat", at=T0, interval_s=10)
    rig.send("T0", "lifecycle", at=T0 + timedelta(seconds=5), event="update_started")
    with rig.db.sessions.begin() as s:  # an operator reboots T1; it acknowledges, then restarts
        t1 = get_terminal(s, terminal_id="T1")
        assert t1 is not None
        cmd = command_repo.issue_command(
            s, terminal=t1, name="reboot", args={}, issued_by="ops", now=T0
        )
        cmd_id = cmd.id
    rig.send("T1", "command_result", at=T0 + timedelta(seconds=6), command_id=cmd_id, status="ok")
    rig.step(60)  # six intervals of silence from all three
    assert [i.scope for i in rig.incidents("heartbeat-lost")] == ["terminal:T2"]
    for t in range(90, 601, 10):  # T1 is back after its reboot and stays
        rig.send("T1", "heartbeat", at=T0 + timedelta(seconds=t), interval_s=10)
    rig.step()
    assert "terminal:T0" not in {i.scope for i in rig.incidents("heartbeat-lost")}
    rig.step(10)  # T0's update never finished: ten minutes after it started, an incident
    lost = {i.scope: i for i in rig.incidents("heartbeat-lost")}
    assert set(lost) == {"terminal:T0", "terminal:T2"}
    assert "planned update_started" in lost["terminal:T0"].explanation["reason"]


def test_check_constraint_is_in_the_schema(rig: Rig) -> None:
    with rig.db.engine.connect() as conn:
        if rig.db.dialect == "sqlite":
            ddl = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'incidents'")
            ).scalar_one()
        else:
            ddl = " ".join(
                conn.execute(
                    text(
                        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE conname = 'ck_incidents_resolved_after_opened'"
                    )
                ).scalars()
            )
    assert "resolved_at >= opened_at" in ddl


def test_a_terminal_silent_since_long_before_the_restart_is_still_watched(rig: Rig) -> None:
    """Heartbeats upsert terminal_liveness at ingest (no events rows); a diagnoser restarted
    long after a terminal's last heartbeat still knows it: after the grace period a terminal
    that never came back is an incident, one that did is not."""
    for i in range(6):
        rig.send(f"T{i}", "heartbeat", at=T0, interval_s=10)
    rig.send("T0", "heartbeat", at=T0 + timedelta(seconds=10), interval_s=10)
    rig.step()
    with rig.db.sessions() as s:
        rows = {r.terminal_id: r for r in s.scalars(select(TerminalLiveness))}
    assert set(rows) == {f"T{i}" for i in range(6)}
    assert rows["T0"].last_heartbeat_at == T0 + timedelta(seconds=10)
    assert rows["T0"].interval_s == 10.0
    rig.clock.advance(6 * 3600)  # the service dies and stays down six hours
    with rig.db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(EventRow)) == 0
    restart(rig, replay_s=5)  # nothing to replay: the heartbeats are in liveness only
    assert rig.diag.warmed_up == 0
    rig.step()
    assert rig.incidents("heartbeat-lost") == []  # the grace period
    rig.send("T1", "heartbeat", at=rig.clock.now() + timedelta(seconds=5), interval_s=10)
    rig.step(29)  # 34 s after the restart: the 30 s grace is over, T1's new deadline is not
    lost = rig.incidents("heartbeat-lost")
    assert sorted(i.scope for i in lost) == [f"terminal:T{i}" for i in (0, 2, 3, 4, 5)]
    assert_truthful(rig)
