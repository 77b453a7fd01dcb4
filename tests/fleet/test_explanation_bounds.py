"""An incident's stored explanation is bounded (posguard.fleet.diagnosis.evidence): at most
MAX_EXPLANATION_EVENTS event references with the total matched, MAX_MEMBERS members, and every
text at most MAX_TEXT characters; the evidence itself stays linked in incident_events. A group
incident's reason shows the comparison that was true, with enough decimals to read it
("30.4% > 30%", never "30% > 30%")."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import IncidentEvent
from posguard.fleet.diagnosis.correlation import share_vs_threshold
from posguard.fleet.diagnosis.evidence import (
    MAX_EXPLANATION_EVENTS,
    MAX_MEMBERS,
    MAX_TEXT,
    bounded,
)
from posguard.fleet.diagnosis.observed import Observed, Open
from posguard.fleet.diagnosis.rules import parse_rules
from posguard.fleet.incidents import explanation
from posguard.fleet.repo.terminals import add_terminal

from .conftest import T0, FleetDB
from .test_rules import Rig


def _event(i: int) -> Observed:
    at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC) + timedelta(seconds=i)
    return Observed(
        id=i + 1,
        terminal_id=f"T{i:04d}",
        merchant_id="M01",
        seq=i,
        ts=at,
        kind="fault",
        code="NET.CONNECT_TIMEOUT",
    )


def test_a_storm_of_evidence_is_stored_within_the_caps() -> None:
    (rule,) = parse_rules(
        [
            {
                "id": "long-one",
                "kind": "simple",
                "code": "NET.CONNECT_TIMEOUT",
                "description": "d" * 5000,
                "create": {"match": {"kind": "fault", "code": "NET.CONNECT_TIMEOUT"}},
                "clear": {"quiet_s": 60},
            }
        ],
        source="test",
    )
    events = tuple(_event(i) for i in range(40))
    d = Open(
        rule_id=rule.id,
        scope="host:acq-east",
        code="NET.CONNECT_TIMEOUT",
        at=events[-1].ts,
        reason="r" * 10_000,
        events=events,
        members=tuple(f"T{i:05d}" for i in range(2000)),
    )
    ex = explanation(rule, d, default_catalog()["NET.CONNECT_TIMEOUT"])
    assert [e["id"] for e in ex["events"]] == [e.id for e in events[-MAX_EXPLANATION_EVENTS:]]
    assert ex["events_total"] == 40
    assert len(ex["members"]) == MAX_MEMBERS
    assert len(ex["reason"]) == MAX_TEXT
    assert ex["reason"].endswith("…")
    assert len(ex["rule_description"]) == MAX_TEXT
    # bounded twice is bounded once: a clear that re-bounds keeps the total
    again = bounded({**ex, "cleared": "c" * 999})
    assert again["events_total"] == 40
    assert len(again["cleared"]) == MAX_TEXT
    assert again["events"] == ex["events"]
    # the worst case, measured: members dominate; without them a few KB at most
    size = len(json.dumps({k: v for k, v in again.items() if k != "members"}))
    assert size < 4096, size


def test_a_short_explanation_is_stored_unchanged() -> None:
    ex = {"reason": "2 x TXN.MAC_ERROR", "events": [{"id": 1}, {"id": 2}], "members": []}
    assert bounded(ex) == {**ex, "events_total": 2}


@pytest.mark.parametrize(
    ("share", "threshold", "text"),
    [
        (7 * 100 / 23, 30, "30.4% > 30%"),  # once printed "30% > 30%"
        (34 * 100 / 110, 30, "31% > 30%"),
        (30.0, 30, "30% = 30%"),
        (29.96, 30, "29.96% < 30%"),
        (100 * 3001 / 10000, 30, "30.01% > 30%"),
        (12.5, 12.5, "12.5% = 12.5%"),
    ],
)
def test_the_comparison_shown_is_the_one_that_holds(
    share: float, threshold: float, text: str
) -> None:
    assert share_vs_threshold(share, threshold) == text


@pytest.fixture
def rig(sqlite_db: FleetDB, clock: FakeClock) -> Rig:
    """Host acq-x with 23 terminals, each in an area of its own."""
    with sqlite_db.sessions.begin() as s:
        for i in range(23):
            add_terminal(
                s,
                terminal_id=f"x-{i:02d}",
                merchant_id="M01",
                model="PX",
                brand="Acme",
                firmware="1",
                acquirer_host="acq-x",
                area=f"area-{i}",
                now=T0,
            )
    return Rig(sqlite_db, clock)


def test_a_host_outage_over_30_percent_reads_true_and_keeps_its_evidence(rig: Rig) -> None:
    """7 of 23 terminals (30.43%) over a 30% threshold: the reason says 30.4% > 30%."""
    for i in range(7):
        rig.send(f"x-{i:02d}", "fault", "NET.CONNECT_TIMEOUT", at=T0 + timedelta(seconds=i))
        rig.step()
    (group,) = [i for i in rig.incidents() if i.rule_id == "network-outage"]
    assert "7 of 23 terminals on acquirer host acq-x (30.4% > 30%)" in group.explanation["reason"]
    assert group.explanation["events_total"] == 7
    assert len(group.explanation["events"]) == MAX_EXPLANATION_EVENTS
    with rig.db.sessions() as s:
        linked = s.scalars(
            select(IncidentEvent.event_id).where(IncidentEvent.incident_id == group.id)
        ).all()
    assert len(linked) == 7  # every matched event is still linked as evidence
