"""A fleet-wide outage opens one host- or area-level incident, not one per terminal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import Incident, IncidentEvent
from posguard.fleet.repo.terminals import add_terminal

from .conftest import T0, FleetDB
from .test_rules import Rig


def _fleet(db: FleetDB) -> None:
    """Hosts acq-east / acq-west, 100 each over areas a0..a4, plus area 'mall' (10 per host).
    Model PX everywhere except the first 20 of each host, which are model QX."""
    with db.sessions.begin() as s:
        for host in ("east", "west"):
            for i in range(100):
                add_terminal(
                    s,
                    terminal_id=f"{host}-{i:03d}",
                    merchant_id=f"M{i % 7}",
                    model="QX" if i < 20 else "PX",
                    brand="Acme",
                    firmware="1",
                    acquirer_host=f"acq-{host}",
                    area=f"a{i % 5}",
                    now=T0,
                )
            for i in range(10):
                add_terminal(
                    s,
                    terminal_id=f"mall-{host}-{i}",
                    merchant_id="M9",
                    model="PX",
                    brand="Acme",
                    firmware="1",
                    acquirer_host=f"acq-{host}",
                    area="mall",
                    now=T0,
                )


@pytest.fixture
def rig(sqlite_db: FleetDB, clock: FakeClock) -> Rig:
    _fleet(sqlite_db)
    return Rig(sqlite_db, clock)


def _open(rig: Rig) -> list[Incident]:
    return [i for i in rig.incidents() if i.status == "open"]


def test_host_outage_is_one_incident_that_swallows_the_terminal_ones(rig: Rig) -> None:
    affected = [f"east-{i:03d}" for i in range(60)]
    # three connect timeouts each, diagnosed every 10 terminals: the first terminals reach their
    # own repeating rule before the host threshold (>30% of 110) is crossed
    for chunk in range(0, 60, 10):
        for tid in affected[chunk : chunk + 10]:
            for k in range(3):
                rig.send(tid, "fault", "NET.CONNECT_TIMEOUT", at=T0 + timedelta(seconds=chunk + k))
        rig.step()

    (group,) = _open(rig)
    assert (group.scope, group.rule_id, group.code) == (
        "host:acq-east",
        "network-outage",
        "NET.CONNECT_TIMEOUT",
    )
    assert group.terminal_id is None
    assert group.severity == "critical"  # catalog 'major', one step up for a fleet-wide outage
    assert "of 110 terminals on acquirer host acq-east" in group.explanation["reason"]
    children = [i for i in rig.incidents() if i.parent_id == group.id]
    assert children, (
        "the per-terminal incidents opened before the threshold are linked to the host one"
    )
    assert {c.status for c in children} == {"merged"}
    assert all(c.terminal_id in affected for c in children)
    assert len(rig.incidents()) == 1 + len(children)

    # more faults while the outage lasts extend the host incident; no new per-terminal ones
    for tid in affected:
        rig.send(tid, "fault", "NET.READ_TIMEOUT", at=T0 + timedelta(seconds=100))
        rig.send(tid, "fault", "NET.READ_TIMEOUT", at=T0 + timedelta(seconds=101))
        rig.send(tid, "fault", "NET.READ_TIMEOUT", at=T0 + timedelta(seconds=102))
    rig.step()
    assert [i.id for i in _open(rig)] == [group.id]

    rig.step(599)
    assert [i.id for i in _open(rig)] == [group.id]
    rig.step(1)
    assert _open(rig) == []
    with rig.db.sessions() as s:
        closed = s.get(Incident, group.id)
        assert closed is not None
        assert (closed.status, closed.resolved_by) == ("resolved", "rule")


def test_area_outage_across_hosts_is_one_area_incident(rig: Rig) -> None:
    for i in range(10):
        for host in ("east", "west"):
            rig.send(f"mall-{host}-{i}", "fault", "NET.NO_ROUTE", at=T0 + timedelta(seconds=i))
    rig.step()
    (group,) = _open(rig)
    assert group.scope == "area:mall"
    assert len(group.explanation["members"]) == 7  # >30% of 20 when it opened
    with rig.db.sessions() as s:
        linked = s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == group.id)).all()
    assert len(linked) == 20  # the later faults extend it


def test_scattered_network_faults_stay_per_terminal(rig: Rig) -> None:
    for i in range(0, 100, 20):  # 5 of 110 on acq-east, each in a different area
        for k in range(3):
            rig.send(f"east-{i:03d}", "fault", "NET.READ_TIMEOUT", at=T0 + timedelta(seconds=k))
    rig.step()
    scopes = sorted(i.scope for i in _open(rig))
    assert scopes == [f"terminal:east-{i:03d}" for i in range(0, 100, 20)]


def test_after_restart_an_open_host_incident_keeps_swallowing(rig: Rig, sqlite_db: FleetDB) -> None:
    for i in range(40):
        rig.send(f"east-{i:03d}", "fault", "NET.CONNECT_TIMEOUT")
    rig.step()
    (group,) = _open(rig)
    fresh = Rig(sqlite_db, rig.clock)  # a new diagnoser process
    for k in range(3):
        fresh.send("east-099", "fault", "NET.READ_TIMEOUT", at=T0 + timedelta(seconds=10 + k))
    fresh.step()
    assert [i.id for i in _open(fresh)] == [group.id]


def test_issuer_outage_is_one_incident_per_host(rig: Rig) -> None:
    for i in range(20):  # 20 of 110 on acq-east see "issuer unavailable" declines
        rig.send(
            f"east-{i:03d}", "transaction", "TXN.ISSUER_UNAVAILABLE", at=T0 + timedelta(seconds=i)
        )
    rig.step()
    (group,) = _open(rig)
    assert (group.scope, group.rule_id, group.code) == (
        "host:acq-east",
        "issuer-outage",
        "TXN.ISSUER_UNAVAILABLE",
    )
    rig.step(601)
    assert _open(rig) == []


def test_a_network_outage_does_not_swallow_a_printer_incident(rig: Rig) -> None:
    for i in range(40):
        rig.send(f"east-{i:03d}", "fault", "NET.CONNECT_TIMEOUT")
    rig.step()
    (network,) = _open(rig)
    assert network.scope == "host:acq-east"
    rig.send("east-001", "fault", "PRN.PAPER_OUT")  # same terminal, covered by the host incident
    rig.step()
    printer = [i for i in _open(rig) if i.code == "PRN.PAPER_OUT"]
    assert [(i.scope, i.rule_id) for i in printer] == [("terminal:east-001", "printer-paper-out")]


def test_a_bad_rollout_on_one_model_is_one_model_incident(rig: Rig) -> None:
    for host in ("east", "west"):  # 12 of the 40 QX terminals fail the new firmware's check
        for i in range(6):
            rig.send(f"{host}-{i:03d}", "fault", "SW.UPDATE_FAILED", at=T0 + timedelta(seconds=i))
    rig.step()
    (group,) = _open(rig)
    assert (group.scope, group.rule_id) == ("model:QX", "bad-firmware-rollout")
    assert "of 40 terminals on model QX" in group.explanation["reason"]
    merged = [i for i in rig.incidents() if i.parent_id == group.id]
    assert {i.rule_id for i in merged} <= {"update-failed"}
    rig.send("east-050", "fault", "SW.UPDATE_FAILED")  # a PX terminal: its own incident
    rig.step()
    px = [i for i in _open(rig) if i.terminal_id == "east-050"]
    assert [(i.rule_id, i.scope) for i in px] == [("update-failed", "terminal:east-050")]
