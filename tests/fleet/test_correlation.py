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
    # the rule's own code and title, not one borrowed from a merged child
    assert (group.scope, group.rule_id, group.code) == (
        "host:acq-east",
        "network-outage",
        "NET.HOST_UNREACHABLE",
    )
    assert group.explanation["catalog"]["title"]["en"].startswith("Acquirer host unreachable")
    assert "faults seen: NET.CONNECT_TIMEOUT" in group.explanation["reason"]
    assert group.terminal_id is None
    assert group.severity == "critical"
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
    assert (group.scope, group.code) == ("area:mall", "NET.AREA_OUTAGE")
    assert "7 of 20 terminals on area mall" in group.explanation["reason"]  # >30% when it opened
    assert len(group.explanation["members"]) == 20  # the later ones joined the list
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


def test_issuer_outage_across_hosts_is_one_incident_naming_the_issuer(rig: Rig) -> None:
    """One BIN range down behind every host: one incident, scoped and named by the issuer."""
    for i in range(8):  # terminals on both hosts, in several areas, see one BIN declined
        for host in ("east", "west"):
            rig.send(
                f"{host}-{i:03d}",
                "transaction",
                "TXN.ISSUER_UNAVAILABLE",
                at=T0 + timedelta(seconds=i),
                masked_pan="622588******1234",
                rc="91",
            )
    for i in range(20, 40):  # other cards are approved: the issuer, not the hosts, is down
        rig.send(
            f"east-{i:03d}",
            "transaction",
            None,
            at=T0 + timedelta(seconds=9),
            masked_pan="453201******0366",
            rc="00",
        )
    rig.step()
    (group,) = _open(rig)
    assert (group.scope, group.rule_id, group.code) == (
        "issuer:622588",
        "issuer-outage",
        "TXN.ISSUER_OUTAGE",
    )
    assert "BIN 622588 (unionpay)" in group.explanation["reason"]
    assert group.explanation["catalog"]["title"]["en"].startswith("Issuer outage")
    assert len(rig.incidents()) == 1
    rig.step(601)
    assert _open(rig) == []


def tiny_host(db: FleetDB) -> None:
    """Host acq-tiny, which only tiny-0 and tiny-1 (merchant M1) use."""
    with db.sessions.begin() as s:
        for i in range(2):
            add_terminal(
                s,
                terminal_id=f"tiny-{i}",
                merchant_id="M1",
                model="PX",
                brand="Acme",
                firmware="1",
                acquirer_host="acq-tiny",
                area="a0",
                now=T0,
            )


def test_a_host_only_two_terminals_use_is_an_incident_when_both_fail(rig: Rig) -> None:
    """Issue #23: a host unreachable from every terminal that uses it, whatever their number."""
    tiny_host(rig.db)
    rig.diag.refresh_directory()
    rig.merchant.update({"tiny-0": "M1", "tiny-1": "M1"})
    rig.send("tiny-0", "fault", "NET.CONNECT_REFUSED", at=T0)
    rig.send("tiny-1", "fault", "NET.CONNECT_REFUSED", at=T0 + timedelta(seconds=1))
    rig.send("tiny-0", "fault", "NET.CONNECT_REFUSED", at=T0 + timedelta(seconds=2))
    rig.step()
    assert _open(rig) == [], "one failure each is not yet 'unreachable'"
    rig.send("tiny-1", "fault", "NET.CONNECT_REFUSED", at=T0 + timedelta(seconds=3))
    rig.step()
    (group,) = _open(rig)
    assert (group.scope, group.code) == ("host:acq-tiny", "NET.HOST_UNREACHABLE")
    assert "all 2 terminals on acquirer host acq-tiny" in group.explanation["reason"]


def test_terminals_joining_an_open_outage_are_added_to_its_list(rig: Rig) -> None:
    for i in range(40):
        rig.send(f"east-{i:03d}", "fault", "NET.CONNECT_TIMEOUT")
    rig.step()
    (group,) = _open(rig)
    first = set(group.explanation["members"])
    late = [f"east-{i:03d}" for i in range(60, 70)]
    for tid in late:
        for k in range(3):  # each late terminal even reaches its own repeating rule
            rig.send(tid, "fault", "NET.CONNECT_TIMEOUT", at=T0 + timedelta(seconds=30 + k))
    rig.step()
    (again,) = _open(rig)
    assert again.id == group.id
    members = again.explanation["members"]
    assert set(members) == first | set(late)
    assert len(members) == len(set(members))
    assert not [i for i in rig.incidents() if i.scope.startswith("terminal:")]


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


def test_a_merged_incident_never_closes_before_it_opened(rig: Rig) -> None:
    """The host incident can open at an earlier event time than a terminal incident it swallows
    (late deliveries): the child closes when it is merged, not at the parent's opening."""
    for i in range(10):
        for k in range(3):
            rig.send(
                f"east-{i:03d}", "fault", "NET.CONNECT_TIMEOUT", at=T0 + timedelta(seconds=100 + k)
            )
    rig.step()
    children = [i for i in _open(rig) if i.scope.startswith("terminal:")]
    assert len(children) == 10
    for i in range(10, 40):  # the others' faults arrive late, stamped at the start of the outage
        rig.send(f"east-{i:03d}", "fault", "NET.CONNECT_TIMEOUT", at=T0 + timedelta(seconds=10))
    rig.step()
    (group,) = _open(rig)
    assert group.opened_at < min(c.opened_at for c in children)
    merged = [i for i in rig.incidents() if i.parent_id == group.id]
    assert len(merged) == 10
    for m in merged:
        assert m.resolved_at is not None
        assert m.resolved_at >= m.opened_at
        assert m.time_to_resolve_s is not None
        assert m.time_to_resolve_s >= 0
