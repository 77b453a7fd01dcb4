"""Sharded diagnosis (issue #15, docs/scaling.md): two per-terminal shards and one correlator on
one database. Killing a shard mid-story and starting it again loses no fault and duplicates no
incident; a host outage is still one incident; one correlator at a time (advisory lock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import EventRow, Incident
from posguard.fleet.diagnosis.leader import AdvisoryLock
from posguard.fleet.diagnosis.rules import load_rules
from posguard.fleet.diagnosis.service import DiagnosisService
from posguard.fleet.diagnosis.shard import ShardRole
from posguard.fleet.ingest.store import EventStore, Outcome

from .conftest import T0, FleetDB, event, register
from .test_restart import assert_truthful

EAST = [f"E{i:02d}" for i in range(12)]
WEST = [f"W{i:02d}" for i in range(8)]


class Story:
    def __init__(self, db: FleetDB, clock: FakeClock) -> None:
        self.db, self.clock = db, clock
        self.catalog = default_catalog()
        self.rules = load_rules(catalog=self.catalog)
        self.store = EventStore(db.sessions, catalog=self.catalog, clock=clock)
        self.seq: dict[str, int] = {}

    def diagnoser(self, role: ShardRole) -> DiagnosisService:
        d = DiagnosisService(
            self.db.sessions, rules=self.rules, catalog=self.catalog, clock=self.clock, role=role
        )
        d.start()
        return d

    def send(self, tid: str, kind: str, code: str | None, at: datetime) -> None:
        self.clock.set(max(self.clock.now(), at))
        self.seq[tid] = self.seq.get(tid, 0) + 1
        (res,) = self.store.store(
            [event(tid, self.seq[tid], kind=kind, code=code, ts=at)], transport="test"
        )
        assert res.outcome is Outcome.STORED

    def incidents(self) -> list[Incident]:
        with self.db.sessions() as s:
            return list(s.scalars(select(Incident).order_by(Incident.id)))


@pytest.fixture
def story(fleet_db: FleetDB, clock: FakeClock) -> Story:
    for tid in EAST:
        register(fleet_db, tid, host="acq-east", area=f"a{tid[-1]}")
    for tid in WEST:
        register(fleet_db, tid, host="acq-west", area=f"a{tid[-1]}")
    return Story(fleet_db, clock)


def test_shards_split_the_terminals_without_overlap() -> None:
    ids = EAST + WEST
    owners = [[r for r in range(3) if ShardRole.parse(r, 3).owns(t)] for t in ids]
    assert all(len(o) == 1 for o in owners)
    assert len({o[0] for o in owners}) > 1


def test_kill_a_shard_mid_story_nothing_lost_nothing_doubled(story: Story) -> None:
    s0 = story.diagnoser(ShardRole.parse(0, 2))
    s1 = story.diagnoser(ShardRole.parse(1, 2))
    corr = story.diagnoser(ShardRole.correlator())

    def step(*ds: DiagnosisService) -> None:
        for d in ds:
            d.step()

    for tid in EAST + WEST:
        story.send(tid, "heartbeat", None, T0)
    # paper runs out on every west terminal: per-terminal incidents, each by its own shard
    for tid in WEST:
        story.send(tid, "fault", "PRN.PAPER_OUT", T0)
    step(s0, s1, corr)
    # the first three east terminals time out three times: their own incidents first
    for tid in EAST[:3]:
        for k in range(3):
            story.send(tid, "fault", "NET.CONNECT_TIMEOUT", T0 + timedelta(seconds=1 + k))
    step(s0, s1, corr)
    del s0  # kill -9: shard 0 is gone, its memory with it
    for tid in EAST[3:]:  # the host goes down for everyone; west paper comes back
        for k in range(3):
            story.send(tid, "fault", "NET.CONNECT_TIMEOUT", T0 + timedelta(seconds=10 + k))
    for tid in WEST:
        story.send(tid, "fault_cleared", "PRN.PAPER_OUT", T0 + timedelta(seconds=20))
    step(s1, corr)
    s0 = story.diagnoser(ShardRole.parse(0, 2))  # restarted
    step(s0, s1, corr)
    step(s0, s1, corr)

    # heartbeats (terminal_liveness, read by each shard for its own slots): W00 goes silent
    for t in (100, 200):
        for tid in EAST + WEST[1:]:
            story.send(tid, "heartbeat", None, T0 + timedelta(seconds=t))
    story.clock.set(T0 + timedelta(seconds=250))
    step(s0, s1, corr)
    del s1  # kill -9 the other shard after it opened what it owns, and start it again
    s1 = story.diagnoser(ShardRole.parse(1, 2))
    step(s0, s1, corr)

    incidents = story.incidents()
    assert_truthful(incidents)
    lost = [i.terminal_id for i in incidents if i.rule_id == "heartbeat-lost"]
    assert lost == ["W00"], lost  # once, by its own shard, not again after the restart
    hosts = [i for i in incidents if i.scope == "host:acq-east"]
    assert len(hosts) == 1, [(i.rule_id, i.scope) for i in incidents]
    assert hosts[0].code == "NET.HOST_UNREACHABLE"
    assert sorted(hosts[0].explanation["members"]) == EAST
    paper = [i for i in incidents if i.rule_id == "printer-paper-out"]
    assert sorted(i.terminal_id or "" for i in paper) == WEST  # one each, none lost or doubled
    assert all(i.status == "resolved" for i in paper)  # the clears shard 0 missed were applied
    network = [i for i in incidents if i.terminal_id in EAST]
    assert {i.status for i in network} <= {"merged"}, [(i.scope, i.status) for i in network]
    assert all(i.parent_id == hosts[0].id for i in network)


def test_a_member_incident_a_shard_opens_after_the_group_one_is_merged(
    story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race seen with real processes: the correlator opens the host incident and commits
    while a shard's step, which read the open group incidents before that commit, opens the
    members' own incidents. The correlator's next step merges them, though no further event
    of theirs comes."""
    shards = [story.diagnoser(ShardRole.parse(k, 2)) for k in (0, 1)]
    corr = story.diagnoser(ShardRole.correlator())
    for tid in EAST:
        for k in range(3):
            story.send(tid, "fault", "NET.CONNECT_TIMEOUT", T0 + timedelta(seconds=1 + k))
    corr.step()  # the host incident, with every east terminal a member
    for shard in shards:  # the shards' group read came before the correlator's commit
        monkeypatch.setattr(shard.engine, "sync_groups", lambda _open: None)
        shard.step()
    early = [i for i in story.incidents() if i.terminal_id in EAST and i.status == "open"]
    assert early, "the shards should have opened the members' own incidents in this race"
    story.clock.advance(1)
    corr.step()

    incidents = story.incidents()
    assert_truthful(incidents)
    (host,) = [i for i in incidents if i.scope == "host:acq-east"]
    network = [i for i in incidents if i.terminal_id in EAST]
    assert {i.status for i in network} == {"merged"}, [(i.scope, i.status) for i in network]
    assert all(i.parent_id == host.id for i in network)


def test_a_shard_starting_after_the_other_opened_incidents_misses_nothing(story: Story) -> None:
    """Shard 0 starts, diagnoses and opens incidents before shard 1's first start: shard 1 has
    no cursor, but the database is not one of an older version (shard 0 keeps a cursor), so it
    diagnoses its own terminals' recent faults instead of counting them as done."""
    s0 = story.diagnoser(ShardRole.parse(0, 2))
    for tid in WEST:
        story.send(tid, "fault", "PRN.PAPER_OUT", T0)
    s0.step()
    assert story.incidents(), "shard 0 should have opened its terminals' incidents"
    s1 = story.diagnoser(ShardRole.parse(1, 2))
    s1.step()
    s0.step()
    paper = [i for i in story.incidents() if i.rule_id == "printer-paper-out"]
    assert sorted(i.terminal_id or "" for i in paper) == WEST


def test_a_shard_loads_only_the_rows_of_its_own_slots(story: Story) -> None:
    """The full rows a shard reads are selected by slot in SQL; its cursor still passes every
    id (the other shards' rows are not gaps)."""
    from sqlalchemy import event as sa_event

    for k, tid in enumerate(EAST + WEST):
        story.send(tid, "fault", "PRN.PAPER_OUT", T0 + timedelta(seconds=k))
    role = ShardRole.parse(1, 2)
    shard = story.diagnoser(role)
    sql: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        sql.append(statement)

    sa_event.listen(story.db.engine, "before_cursor_execute", seen)
    with story.db.sessions.begin() as s:
        newest = max(s.scalars(select(EventRow.id)))
        rows = shard._new_rows(s, story.clock.now())
    sa_event.remove(story.db.engine, "before_cursor_execute", seen)
    own = sorted(t for t in EAST + WEST if role.owns(t))
    assert sorted(r.terminal_id for r in rows) == own
    assert 0 < len(own) < len(EAST + WEST)
    assert shard.cursor == newest
    assert shard.gaps == {}
    assert any("shard_slot %" in q and "events.data" in q for q in sql), sql


@pytest.mark.postgres
def test_one_correlator_at_a_time_and_a_second_takes_over(pg_db: FleetDB) -> None:
    first, second = AdvisoryLock(pg_db.engine), AdvisoryLock(pg_db.engine)
    assert first.try_acquire()
    assert not second.try_acquire()
    assert not second.acquire(poll_s=0.05, timeout_s=0.3)
    # the first correlator dies: its connection goes, and the lock with it
    assert first._conn is not None
    first._conn.invalidate()
    first._conn = None
    assert second.acquire(poll_s=0.05, timeout_s=5)
    second.release()


def _wait_for(proc: subprocess.Popen[str], text: str, timeout: float) -> str:
    """Read the process's output until ``text`` shows up (a thread: readline blocks)."""
    seen: list[str] = []
    done = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if text in line:
                done.set()
                return

    threading.Thread(target=reader, daemon=True).start()
    assert done.wait(timeout), f"no {text!r} in {''.join(seen)!r}"
    return "".join(seen)


@pytest.mark.postgres
def test_a_waiting_correlator_takes_over_when_the_first_is_killed(pg_db: FleetDB) -> None:
    """Two `posguard fleet diagnose --correlator` processes: one diagnoses, the other waits;
    kill -9 the first and the second takes over."""
    cmd = [sys.executable, "-m", "posguard.cli", "fleet", "diagnose", "--correlator"]
    cmd += ["--db", pg_db.url]
    env = {**os.environ, "POSGUARD_FLEET_JWT_SECRET": "x" * 40}
    first = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    second: subprocess.Popen[str] | None = None
    try:
        _wait_for(first, "diagnosing as correlator", 60)
        second = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        out = _wait_for(second, "waiting for the correlator lock", 60)
        time.sleep(1.5)
        assert "diagnosing as" not in out
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        _wait_for(second, "diagnosing as correlator", 30)
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()


def _diagnose(url: str, *args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "posguard.cli", "fleet", "diagnose", *args]
    cmd += ["--db", url, "--poll", "0.1"]
    env = {**os.environ, "POSGUARD_FLEET_JWT_SECRET": "x" * 40}
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def _settle(db: FleetDB, done: Callable[[list[Incident]], bool], timeout: float) -> list[Incident]:
    deadline = time.monotonic() + timeout
    while True:
        with db.sessions() as s:
            incidents = list(s.scalars(select(Incident).order_by(Incident.id)))
        if done(incidents) or time.monotonic() > deadline:
            return incidents
        time.sleep(0.2)


@pytest.mark.postgres
def test_shard_processes_kill_9_mid_story_nothing_lost_nothing_doubled(pg_db: FleetDB) -> None:
    """The same story against real processes on PostgreSQL: `fleet diagnose --shard 0 --of 2`,
    `--shard 1 --of 2` and `--correlator`, events written by ingest meanwhile on the wall clock;
    shard 0 is killed with SIGKILL mid-story and started again."""
    for tid in EAST:
        register(pg_db, tid, host="acq-east", area=f"a{tid[-1]}")
    for tid in WEST:
        register(pg_db, tid, host="acq-west", area=f"a{tid[-1]}")
    story = Story(pg_db, FakeClock(T0))
    now = lambda: datetime.now(UTC)  # noqa: E731 - the processes run on the wall clock

    def send(tid: str, kind: str, code: str | None) -> None:
        story.clock.set(now())
        story.send(tid, kind, code, now())

    procs = {
        "s0": _diagnose(pg_db.url, "--shard", "0", "--of", "2"),
        "s1": _diagnose(pg_db.url, "--shard", "1", "--of", "2"),
        "corr": _diagnose(pg_db.url, "--correlator"),
    }
    try:
        for p in procs.values():
            _wait_for(p, "diagnosing as", 60)
        for tid in WEST:
            send(tid, "fault", "PRN.PAPER_OUT")
        for tid in EAST[:3]:
            for _ in range(3):
                send(tid, "fault", "NET.CONNECT_TIMEOUT")

        def paper_open(incs: list[Incident]) -> bool:
            return len([i for i in incs if i.rule_id == "printer-paper-out"]) == len(WEST)

        _settle(pg_db, paper_open, 60)
        procs["s0"].send_signal(signal.SIGKILL)  # kill -9, whatever it was doing
        procs["s0"].wait(10)
        for tid in EAST[3:]:
            for _ in range(3):
                send(tid, "fault", "NET.CONNECT_TIMEOUT")
        for tid in WEST:
            send(tid, "fault_cleared", "PRN.PAPER_OUT")
        procs["s0"] = _diagnose(pg_db.url, "--shard", "0", "--of", "2")
        _wait_for(procs["s0"], "diagnosing as", 60)

        def settled(incs: list[Incident]) -> bool:
            paper = [i for i in incs if i.rule_id == "printer-paper-out"]
            host = [i for i in incs if i.scope == "host:acq-east"]
            return (
                len(paper) == len(WEST)
                and all(i.status == "resolved" for i in paper)
                and len(host) == 1
                and sorted(host[0].explanation.get("members", [])) == EAST
            )

        incidents = _settle(pg_db, settled, 90)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
    assert_truthful(incidents)
    hosts = [i for i in incidents if i.scope == "host:acq-east"]
    assert len(hosts) == 1, [(i.rule_id, i.scope) for i in incidents]
    assert hosts[0].code == "NET.HOST_UNREACHABLE"
    assert sorted(hosts[0].explanation["members"]) == EAST
    paper = [i for i in incidents if i.rule_id == "printer-paper-out"]
    assert sorted(i.terminal_id or "" for i in paper) == WEST  # one each, none lost or doubled
    assert all(i.status == "resolved" for i in paper)  # the clears shard 0 missed were applied
    network = [i for i in incidents if i.terminal_id in EAST]
    assert {i.status for i in network} <= {"merged"}, [(i.scope, i.status) for i in network]
