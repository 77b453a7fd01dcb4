"""The light fleet model emits schema-valid events that tell the timeline's story."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import pytest

from posguard.catalog import default_catalog
from posguard.common.errors import ConfigError
from posguard.common.events import parse_event
from posguard.sim.light import LightFleet
from posguard.sim.population import build_estate
from posguard.sim.timeline import load_timeline, parse_timeline


def _story(*events: dict[str, Any], duration: float = 120) -> Any:
    return parse_timeline({"name": "test", "duration": duration, "events": list(events)})


def _run(fleet: LightFleet) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    fleet.run(out.extend)
    return out


def test_estate_is_reproducible_and_consistent() -> None:
    a = build_estate(terminals=300, seed=11)
    assert a == build_estate(terminals=300, seed=11)
    assert a != build_estate(terminals=300, seed=12)
    mids = {m.merchant_id for m in a.merchants}
    assert len(mids) == len(a.merchants)
    assert all(len(m) == 15 for m in mids)
    assert {t.merchant_id for t in a.terminals} <= mids
    assert len({t.terminal_id for t in a.terminals}) == 300
    assert all(t.warranty_end > t.install_date for t in a.terminals)


def test_every_event_is_schema_valid_with_catalog_codes_and_rising_seq() -> None:
    fleet = LightFleet(
        build_estate(terminals=200, seed=5),
        load_timeline(),
        seed=5,
        heartbeat_interval=20,
        txn_per_hour=120,
    )
    events = _run(fleet)
    catalog = default_catalog()
    last_seq: dict[str, int] = defaultdict(int)
    for raw in events:
        ev = parse_event(raw)
        assert ev.code is None or ev.code in catalog, ev.code
        assert ev.seq == last_seq[ev.terminal_id] + 1
        last_seq[ev.terminal_id] = ev.seq
    kinds = {e["kind"] for e in events}
    assert {"heartbeat", "transaction", "fault", "fault_cleared"} <= kinds


def test_host_outage_hits_only_that_host_and_clears_what_it_raised() -> None:
    estate = build_estate(terminals=400, seed=2)
    fleet = LightFleet(
        estate,
        _story({"at": 10, "fault": "host_outage", "target": {"host": "cup-bj"}, "for": 60}),
        seed=2,
        txn_per_hour=600,
    )
    events = _run(fleet)
    host_of = {t.terminal_id: t.host for t in estate.terminals}
    raised = {e["terminal_id"] for e in events if e["kind"] == "fault"}
    cleared = {e["terminal_id"] for e in events if e["kind"] == "fault_cleared"}
    assert raised
    assert {host_of[t] for t in raised} == {"cup-bj"}
    assert cleared == raised
    assert all(e["code"] == "NET.CONNECT_TIMEOUT" for e in events if e["kind"] == "fault")


def test_bad_firmware_freezes_some_terminals_until_rollback() -> None:
    estate = build_estate(terminals=300, seed=9)
    fleet = LightFleet(
        estate,
        _story({"at": 5, "fault": "bad_firmware", "target": {"model": "A920"}, "for": 60}),
        seed=9,
        heartbeat_interval=10,
        freeze_share=0.5,
    )
    events = _run(fleet)
    failed = {
        e["terminal_id"]
        for e in events
        if e.get("code") == "SW.UPDATE_FAILED" and e["kind"] == "fault"
    }
    model_of = {t.terminal_id: t.model for t in estate.terminals}
    assert failed
    assert {model_of[t] for t in failed} == {"A920"}
    # A frozen terminal sends no heartbeat between 5 s and 65 s.
    beats: dict[str, list[float]] = defaultdict(list)
    for e in events:
        if e["kind"] == "heartbeat":
            beats[e["terminal_id"]].append(e["ts"])
    silent = [t for t in failed if not any("02:00:1" in ts or "02:00:3" in ts for ts in beats[t])]
    assert silent, "some terminals of the bad rollout should have frozen"
    rollbacks = {e["terminal_id"] for e in events if e["kind"] == "lifecycle"}
    assert rollbacks == failed


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"name": "x", "duration": 10, "events": [{"at": 20, "fault": "paper_out"}]}, "events[0]"),
        ({"name": "x", "duration": 10, "events": [{"at": 1, "fault": "meteor"}]}, "events.0.fault"),
        (
            {
                "name": "x",
                "duration": 10,
                "events": [{"at": 1, "fault": "paper_out", "target": {"share": 2}}],
            },
            "share",
        ),
        ({"name": "x", "duration": -1}, "duration"),
        ({"duration": 10}, "name"),
    ],
)
def test_bad_timelines_name_the_event_and_field(raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_timeline(raw, source="story.yaml")
    assert "story.yaml" in str(info.value)
    assert fragment in str(info.value)


def test_transactions_name_a_masked_card_and_an_issuer_outage_declines_its_bin_only() -> None:
    """A light transaction carries what a terminal's does (``terminal/runtime_result.py``): the
    card masked to its first 6 and last 4 digits (PCI DSS 3.4: never the PAN in clear), the
    amount and the host, so the fleet can correlate an issuer outage by BIN at estate scale.
    The outage declines (rc 91) the cards of its BIN and no others."""
    from posguard.card import mask_pan
    from posguard.sim.cardbook import CardBook

    estate = build_estate(terminals=300, seed=4)
    fleet = LightFleet(
        estate,
        _story({"at": 20, "fault": "issuer_outage", "target": {"bin": "622848"}, "for": 40}),
        seed=4,
        txn_per_hour=1200,
    )
    events = _run(fleet)
    host_of = {t.terminal_id: t.host for t in estate.terminals}
    masked_cards = {mask_pan(c.pan) for c in CardBook.default().cards}
    txns = [e for e in events if e["kind"] == "transaction"]
    assert txns
    for e in txns:
        d = e["data"]
        assert d["masked_pan"] in masked_cards
        assert "*" in d["masked_pan"]
        assert d["host"] == host_of[e["terminal_id"]]
        assert 500 <= d["amount"] < 100_000
    down = [e for e in txns if e.get("code") == "TXN.ISSUER_UNAVAILABLE"]
    assert down
    assert {e["data"]["masked_pan"][:6] for e in down} == {"622848"}
    assert all(e["data"]["rc"] == "91" for e in down)

    def at(e: dict[str, Any]) -> float:
        return (datetime.fromisoformat(e["ts"]) - fleet.start).total_seconds()

    in_outage = [e for e in txns if e["data"]["outcome"] == "approved" and 20 <= at(e) < 60]
    assert in_outage
    assert not any(e["data"]["masked_pan"].startswith("622848") for e in in_outage)
    before = [e for e in txns if at(e) < 20]
    assert any(e["data"]["masked_pan"].startswith("622848") for e in before)
    assert not any(e.get("code") == "TXN.ISSUER_UNAVAILABLE" for e in before)
