"""A merchant's contacts stored by the administration page are who its notifications go to:
paper out (the catalog's audience includes the merchant) reaches the stored contact's channel
in the stored language, delivered over real HTTP to a local receiver, instead of the notify
config's ``merchants`` entry; a merchant without stored contacts still gets the config's; an
e-mail contact is the recipient of its own outbox row; a phone-only contact gets nothing."""

from __future__ import annotations

from typing import Any

from posguard.fleet import merchant_admin
from posguard.fleet.clock import FakeClock
from posguard.fleet.db.models import Merchant
from posguard.fleet.notify.config import parse_config

from ..conftest import FleetDB, register
from .conftest import Receiver, outbox_rows, wire


def _contact(db: FleetDB, clock: FakeClock, merchant_id: str, **fields: Any) -> None:
    types = {"ops": "webhook", "shop": "webhook", "shop-robot": "webhook", "mail": "email"}
    with db.sessions.begin() as s:
        m = s.get(Merchant, merchant_id)
        assert m is not None
        merchant_admin.add_contact(
            s,
            m,
            person=fields.get("person", ""),
            phone=fields.get("phone", ""),
            channel=fields.get("channel", ""),
            address=fields.get("address", ""),
            lang=fields.get("lang", "zh"),
            now=clock.now(),
            channel_types=types,
        )


async def test_stored_contacts_route_the_merchants_notifications(
    fleet_db: FleetDB, clock: FakeClock, receiver: Receiver, hook_secret: str, catalog: Any
) -> None:
    db = fleet_db
    register(db, "T1", merchant_id="M01")
    register(db, "T2", merchant_id="M02")
    register(db, "T3", merchant_id="M03")
    hook = {"type": "webhook", "secret": {"env": "PG_TEST_HOOK_SECRET"}}
    cfg = parse_config(
        {
            "channels": [
                *({"id": c, "url": f"{receiver.url}/{c}", **hook} for c in ("ops", "shop")),
                {"id": "shop-robot", "url": f"{receiver.url}/shop-robot", **hook},
                {"id": "mail", "type": "email", "host": "127.0.0.1", "port": 9,
                 "tls": "none", "sender": "fleet@example.com"},
            ],
            "routes": [
                {"id": "shops", "hold_s": 0, "match": {"audience": ["merchant"]},
                 "notify_merchant": True},
            ],
            "merchants": {
                "M01": {"channel": "shop", "lang": "zh"},
                "M02": {"channel": "shop", "lang": "zh"},
                "M03": {"channel": "shop", "lang": "zh"},
            },
        },
        source="t.yaml",
    )  # fmt: skip
    _contact(db, clock, "M01", person="王经理", channel="shop-robot", lang="en")
    _contact(db, clock, "M01", person="王经理", phone="+86 138 0000 0001")  # call only
    _contact(db, clock, "M03", channel="mail", address="owner@m03.example", lang="en")
    for w in wire(db, clock, cfg, catalog):
        first = w.incidents.open("T1", merchant_id="M01")
        second = w.incidents.open("T2", merchant_id="M02")
        third = w.incidents.open("T3", merchant_id="M03")
        rows = {(r.incident_id, r.channel, r.recipient, r.lang) for r in outbox_rows(db)}
        assert rows == {
            (first, "shop-robot", "", "en"),  # the stored contact, not the config's "shop"
            (second, "shop", "", "zh"),  # no stored contact: the config's entry
            (third, "mail", "owner@m03.example", "en"),
        }
        await w.notifier.step()
    robot = [r.json() for r in receiver.accepted if r.path == "/shop-robot"]
    assert len(robot) == 1
    assert (robot[0]["audience"], robot[0]["lang"]) == ("merchant", "en")
    assert [i["id"] for i in robot[0]["incidents"]] == [first]
    assert [
        i["id"] for r in receiver.accepted if r.path == "/shop" for i in r.json()["incidents"]
    ] == [second]
