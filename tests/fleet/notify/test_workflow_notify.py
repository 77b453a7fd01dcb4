"""Notifications for the incident workflow, on SQLite and PostgreSQL: an assignment and a
reopening are told where a route's ``send_on`` says so (each its own message, even assigning
back and forth), an incident's second life announces its resolve again, the merchant's contact
never hears who works on it, and each message sent lands in the incident's audit log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from posguard.fleet import audit
from posguard.fleet import incident_actions as actions
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import Incident
from posguard.fleet.incident_actions import Actor
from posguard.fleet.incident_policy import default_policy
from posguard.fleet.notify.config import parse_config
from posguard.fleet.repo.users import Role, create_user

from ..conftest import FleetDB, register
from .conftest import Receiver, Wired, outbox_rows, webhook_config, wire

OPS = Actor("ops", Role.OPS, "10.1.2.3")
POLICY = default_policy()


@pytest.fixture
def wired(
    fleet_db: FleetDB, clock: FakeClock, receiver: Receiver, hook_secret: str, catalog: Any
) -> Iterator[Wired]:
    register(fleet_db, "T1")
    config = webhook_config(receiver.url, send_on=["open", "assign", "reopen", "resolve"])
    yield from wire(fleet_db, clock, config, catalog)


def _act(db: FleetDB, incident_id: int, fn: Any, **kw: Any) -> None:
    with db.sessions.begin() as s:
        inc = s.get(Incident, incident_id)
        assert inc is not None
        fn(s, incident=inc, actor=OPS, **kw)


async def test_assign_and_reopen_are_told_each_time(
    wired: Wired, fleet_db: FleetDB, clock: FakeClock, receiver: Receiver, catalog: Any
) -> None:
    with fleet_db.sessions.begin() as s:
        create_user(s, username="ops", password="pw-ops-123", role=Role.OPS, now=clock.now())
    inc = wired.incidents.open("T1")
    await wired.notifier.step()
    for who in ("team:network", "user:ops", "team:network"):  # and back again: told again
        _act(fleet_db, inc, actions.assign, now=clock.now(), assignee=who, policy=POLICY)
    await wired.notifier.step()
    clock.advance(60)
    _act(fleet_db, inc, actions.resolve, now=clock.now(), reason="false_alarm", catalog=catalog,
         force=True)  # fmt: skip
    await wired.notifier.step()
    _act(fleet_db, inc, actions.reopen, now=clock.now(), reason="it came back")
    await wired.notifier.step()
    _act(fleet_db, inc, actions.resolve, now=clock.now(), reason="fixed_on_site", catalog=catalog,
         force=True)  # fmt: skip
    await wired.notifier.step()

    bodies = [r.json() for r in receiver.accepted]
    kinds = [b["transition"].split(":")[0] for b in bodies]
    assert kinds == ["open", "assign", "assign", "assign", "resolve", "reopen", "resolve"]
    assert bodies[-1]["transition"] == "resolve:r1"  # the second life's resolve: its own key
    assert [b["incidents"][0]["by"] for b in bodies[1:4]] == [
        "team:network",
        "user:ops",
        "team:network",
    ]
    assert "Assigned" in bodies[1]["title"] or "已指派" in bodies[1]["title"]
    assert len({r.idem_key for r in outbox_rows(fleet_db)}) == 7
    with fleet_db.sessions() as s:
        sent = [e for e in audit.entries(s, incident_id=inc) if e.action == "notification_sent"]
    assert [e.details["transition"].split(":")[0] for e in sent] == kinds
    assert {(e.actor, e.origin, e.details["channel"]) for e in sent} == {
        ("system", "system", "hook")
    }


async def test_an_assignment_the_route_does_not_name_says_nothing(
    fleet_db: FleetDB, clock: FakeClock, receiver: Receiver, hook_secret: str, catalog: Any
) -> None:
    register(fleet_db, "T1")
    for w in wire(fleet_db, clock, webhook_config(receiver.url), catalog):  # open, resolve
        inc = w.incidents.open("T1")
        _act(fleet_db, inc, actions.assign, now=clock.now(), assignee="team:network",
             policy=POLICY)  # fmt: skip
        assert [r.transition for r in outbox_rows(fleet_db)] == ["open"]


def test_the_merchant_contact_hears_a_reopen_but_not_an_assignment(
    fleet_db: FleetDB, clock: FakeClock, hook_secret: str, catalog: Any
) -> None:
    register(fleet_db, "T1")
    config = parse_config(
        {
            "channels": [
                {
                    "id": "hook",
                    "type": "webhook",
                    "url": "http://127.0.0.1:9/h",
                    "secret": {"env": "PG_TEST_HOOK_SECRET"},
                },
                {
                    "id": "shop",
                    "type": "webhook",
                    "url": "http://127.0.0.1:9/s",
                    "secret": {"env": "PG_TEST_HOOK_SECRET"},
                },
            ],
            "routes": [
                {
                    "id": "shops",
                    "notify": [{"channel": "hook"}],
                    "notify_merchant": True,
                    "send_on": ["open", "assign", "reopen", "resolve"],
                    "hold_s": 0,
                }
            ],
            "merchants": {"M01": {"channel": "shop", "lang": "zh"}},
        },
        source="t.yaml",
    )
    for w in wire(fleet_db, clock, config, catalog):
        inc = w.incidents.open("T1")
        clock.advance(timedelta(minutes=1).total_seconds())
        _act(fleet_db, inc, actions.assign, now=clock.now(), assignee="team:network",
             policy=POLICY)  # fmt: skip
        w.incidents.resolve(inc)
        _act(fleet_db, inc, actions.reopen, now=clock.now(), reason="again")
        told = [(r.transition.split(":")[0], r.audience) for r in outbox_rows(fleet_db)]
        assert told == [
            ("open", "ops"),
            ("open", "merchant"),
            ("assign", "ops"),
            ("resolve", "ops"),
            ("resolve", "merchant"),
            ("reopen", "ops"),
            ("reopen", "merchant"),
        ]


async def test_an_sla_breach_is_told_once_per_clock(
    fleet_db: FleetDB, clock: FakeClock, receiver: Receiver, hook_secret: str, catalog: Any
) -> None:
    """A minor incident with targets of 10 minutes to acknowledge and 30 to resolve: the
    breach of each is told once, to the route's last escalation level; an incident
    acknowledged in time hears no acknowledge breach."""
    from posguard.fleet.incident_policy import parse_policy
    from posguard.fleet.notify.delivery import Notifier

    register(fleet_db, "T1")
    register(fleet_db, "T2")
    policy = parse_policy({"sla": {"minor": {"ack_min": 10, "resolve_min": 30}}}, source="p")
    config = webhook_config(
        receiver.url,
        sla_breach=True,
        escalate=[{"after_min": 600, "notify": [{"channel": "hook"}]}],
    )
    for w in wire(fleet_db, clock, config, catalog):
        notifier = Notifier(
            fleet_db.sessions, config=config, catalog=catalog, clock=clock, policy=policy
        )
        late = w.incidents.open("T1")
        quick = w.incidents.open("T2")
        clock.advance(5 * 60)
        w.incidents.ack(quick)
        await notifier.step()
        clock.advance(6 * 60)  # 11 minutes: T1's acknowledge target passed
        await notifier.step()
        await notifier.step()
        w.incidents.ack(late)
        clock.advance(20 * 60)  # 31 minutes: both resolve targets passed
        await notifier.step()
        await notifier.step()
        told = [
            (i["id"], b["transition"])
            for b in (r.json() for r in receiver.accepted)
            for i in b["incidents"]
            if b["transition"].startswith("sla")
        ]
        assert sorted(told) == sorted(
            [(late, "sla:ack"), (late, "sla:resolve"), (quick, "sla:resolve")]
        )
        sla = [r for r in outbox_rows(fleet_db) if r.transition.startswith("sla")]
        assert {r.route_id for r in sla} == {"all"}
        assert all(r.status == "sent" for r in sla)
