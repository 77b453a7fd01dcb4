"""The demo's parts on their own: the host seed for an estate, fault targeting, the fee audit of
a settled batch, the verdict on each played fault, and the clear-PAN scan."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from posguard.card import luhn_valid, mask_pan
from posguard.common.errors import ConfigError
from posguard.host.seed import SeedData
from posguard.sim.cardbook import CardBook, host_seed, terminal_tmk
from posguard.sim.demo import DemoOptions, _timeline, run_demo
from posguard.sim.fees import SettledSale, run_fee_audit
from posguard.sim.inject import FaultInjector, Played
from posguard.sim.population import build_estate
from posguard.sim.report import judge, scan_for_pans
from posguard.sim.stats import DemoStats
from posguard.sim.timeline import FaultKind, TimelineEvent, load_timeline


def _event(fault: str, at: float = 1.0, **target: object) -> TimelineEvent:
    return TimelineEvent.model_validate({"at": at, "fault": fault, "target": target, "for": 5.0})


class _Vt:
    """What the injector's targeting reads of a virtual terminal."""

    def __init__(self, spec: object) -> None:
        self.spec = spec
        self.tid = spec.terminal_id  # type: ignore[attr-defined]


def test_host_seed_serves_every_terminal_and_card_of_the_estate() -> None:
    estate = build_estate(terminals=24, seed=11)
    book = CardBook.default()
    seed = host_seed(estate, book)
    assert isinstance(seed, SeedData)
    assert [t.tid for t in seed.terminals] == [t.terminal_id for t in estate.terminals]
    assert {t.mid for t in seed.terminals} == {m.mid for m in seed.merchants}
    assert all(luhn_valid(c.pan) for c in seed.cards)
    assert len({c.pan for c in seed.cards}) == len(seed.cards)
    # the issuer the default story takes down has cards in the book
    assert any(c.pan.startswith("622848") for c in seed.cards)
    assert terminal_tmk("T0000001") != terminal_tmk("T0000002")


def test_every_target_of_the_default_story_hits_the_default_estate() -> None:
    estate = build_estate(terminals=24, seed=11)
    injector = FaultInjector([_Vt(s) for s in estate.terminals], None, Path("."), DemoStats())  # type: ignore[arg-type, list-item]
    for ev in load_timeline().events:
        hit = injector.select(ev)
        if ev.fault is not FaultKind.ISSUER_OUTAGE:
            assert hit, ev.fault
        for vt in hit:
            assert ev.target.host in (None, vt.spec.host)
            assert ev.target.model in (None, vt.spec.model)


def test_share_picks_that_share_of_the_matching_terminals() -> None:
    estate = build_estate(terminals=40, seed=11)
    injector = FaultInjector([_Vt(s) for s in estate.terminals], None, Path("."), DemoStats())  # type: ignore[arg-type, list-item]
    on_sh = [s for s in estate.terminals if s.host == "cup-sh"]
    hit = injector.select(_event("response_drop", host="cup-sh", share=0.5))
    assert len(hit) == round(len(on_sh) * 0.5)
    assert {vt.spec.host for vt in hit} == {"cup-sh"}


def test_fee_audit_flags_exactly_the_merchants_whose_rate_rose() -> None:
    sales = [
        SettledSale(f"t-{i}", mid, pan, amount)
        for i, (mid, pan, amount) in enumerate(
            [
                ("M1", "621483******0011", 12_345),
                ("M1", "625807******0022", 88_000),
                ("M2", "621483******0011", 12_345),
                ("M2", "453201******0033", 50_000),
                ("M2", "625807******0022", 9_900),
            ]
        )
    ]
    audit = run_fee_audit(sales, {"M1": "5812", "M2": "5411"}, {"M2"}, settled_on=date.today())
    assert audit["merchants_flagged"] == ["M2"]
    m2 = next(m for m in audit["merchants"] if m["merchant_id"] == "M2")
    assert {f["code"] for f in m2["findings"]} == {"REG.FEE_RATE_CHANGED"}
    assert sum(f["at_stake_fen"] for f in m2["findings"]) == m2["overcharged_fen"] > 0
    m1 = next(m for m in audit["merchants"] if m["merchant_id"] == "M1")
    assert m1["findings"] == []
    assert m1["overcharged_fen"] == 0


def test_a_fault_that_hit_no_terminal_is_not_called_handled() -> None:
    played = Played(_event("bad_firmware", model="NOPE"), [], 1.0, 6.0)
    verdict = judge(played, [], t0=0.0, grace=5.0, reversals_left=0, fee=None)
    assert not verdict.handled
    assert not verdict.accounted
    assert "no terminal" in verdict.how


def test_network_fault_is_handled_only_when_no_reversal_is_left() -> None:
    played = Played(_event("response_drop"), ["T0000001"], 1.0, 6.0)
    played.delta = {
        "faults": {"NET.READ_TIMEOUT": 2},
        "reversals": {"acknowledged": 2},
        "outcomes": {"approved": 5, "reversed": 2},
    }
    assert judge(played, [], t0=0.0, grace=5.0, reversals_left=0, fee=None).handled
    assert not judge(played, [], t0=0.0, grace=5.0, reversals_left=1, fee=None).handled


def test_stats_count_what_the_terminals_emit() -> None:
    stats = DemoStats()
    stats.note("T1", "transaction", None, {"type": "sale", "outcome": "approved", "amount": 150})
    stats.note("T1", "transaction", "TXN.ISSUER_UNAVAILABLE", {"outcome": "declined"})
    stats.note("T2", "fault", "PRN.PAPER_OUT", {})
    stats.note("T2", "fault_cleared", "PRN.PAPER_OUT", {})
    stats.note("T2", "lifecycle", None, {"event": "rolled_back", "version": "5.1.0"})
    assert stats.amount_approved == 150
    assert stats.declines == Counter({"TXN.ISSUER_UNAVAILABLE": 1})
    assert stats.by_terminal_fault["PRN.PAPER_OUT"] == {"T2"}
    assert stats.lifecycle["rolled_back"] == 1
    assert any("rolled back" in line for line in stats.log)


def test_pan_scan_finds_a_clear_number_and_ignores_a_masked_one(tmp_path: Path) -> None:
    pan = CardBook.default().pans()[0]
    clean = tmp_path / "clean.db"
    clean.write_bytes(f"sale {mask_pan(pan)} approved".encode())
    dirty = tmp_path / "dirty.log"
    dirty.write_bytes(f"oops {pan}".encode())
    result = scan_for_pans([clean, dirty, tmp_path / "missing"], [pan])
    assert result["files"] == ["clean.db", "dirty.log"]
    assert result["clear_pans_found"] == 1
    assert result["where"] == {"dirty.log": 1}


async def test_demo_refuses_a_directory_that_already_holds_a_run(tmp_path: Path) -> None:
    (tmp_path / "fleet.db").write_bytes(b"")
    with pytest.raises(ConfigError, match="already holds a demo run"):
        await run_demo(DemoOptions(out=tmp_path, headless=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.db"]


def test_duration_scales_the_story_and_keeps_its_order() -> None:
    tl = _timeline(DemoOptions(duration=20))
    default = load_timeline()
    assert tl.duration == 20
    assert [e.fault for e in tl.events] == [e.fault for e in default.events]
    assert [round(e.at * 3, 6) for e in tl.events] == [e.at for e in default.events]
