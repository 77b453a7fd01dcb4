"""The diagnosis engine on its own: no sockets, no database, a fake clock. Each test is one
rule of `fleet/rules/terminal.yaml` read as a specification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from posguard.catalog import default_catalog
from posguard.fleet.clock import FakeClock
from posguard.fleet.diagnosis.directory import Placement, TerminalDirectory
from posguard.fleet.diagnosis.engine import DiagnosisEngine
from posguard.fleet.diagnosis.observed import Clear, Decision, Observed, Open
from posguard.fleet.diagnosis.rules import load_rules

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
RULE = "host-read-timeouts"


def _engine(clock: FakeClock) -> DiagnosisEngine:
    catalog = default_catalog()
    directory = TerminalDirectory(
        (f"T{i}", Placement("M01", "acq-east", "pudong", "PX-5")) for i in range(1, 9)
    )
    return DiagnosisEngine(
        load_rules(catalog=catalog), catalog=catalog, clock=clock, directory=directory
    )


def _timeout(seq: int, at: datetime, tid: str = "T1") -> Observed:
    return Observed(
        id=seq, terminal_id=tid, merchant_id="M01", seq=seq, ts=at, kind="fault",
        code="NET.READ_TIMEOUT",
    )  # fmt: skip


def _opens(decisions: list[Decision]) -> list[Open]:
    return [d for d in decisions if isinstance(d, Open) and d.rule_id == RULE]


def test_three_read_timeouts_within_two_minutes_open_one_incident() -> None:
    clock = FakeClock(T0)
    engine = _engine(clock)
    seen: list[Decision] = []
    for seq, offset in enumerate((0, 40, 80), start=1):
        clock.set(T0 + timedelta(seconds=offset))
        seen.extend(engine.observe([_timeout(seq, clock.now())]))
        if seq < 3:
            assert _opens(seen) == [], f"opened after only {seq} timeouts"
    opened = _opens(seen)
    assert len(opened) == 1
    assert (opened[0].scope, opened[0].code) == ("terminal:T1", "NET.READ_TIMEOUT")
    assert [e.seq for e in opened[0].events] == [1, 2, 3]


def test_three_read_timeouts_spread_over_more_than_two_minutes_open_nothing() -> None:
    clock = FakeClock(T0)
    engine = _engine(clock)
    seen: list[Decision] = []
    for seq, offset in enumerate((0, 70, 140), start=1):
        clock.set(T0 + timedelta(seconds=offset))
        seen.extend(engine.observe([_timeout(seq, clock.now())]))
        seen.extend(engine.tick())
    assert _opens(seen) == []


def test_other_terminals_timeouts_do_not_add_up() -> None:
    clock = FakeClock(T0)
    engine = _engine(clock)
    events = [_timeout(1, T0, "T1"), _timeout(1, T0, "T2"), _timeout(2, T0, "T1")]
    assert _opens(engine.observe(events)) == []


def test_ten_quiet_minutes_clear_it() -> None:
    clock = FakeClock(T0)
    engine = _engine(clock)
    for seq in (1, 2, 3):
        engine.observe([_timeout(seq, T0 + timedelta(seconds=seq))])
    clock.set(T0 + timedelta(seconds=3 + 599))
    assert not [d for d in engine.tick() if isinstance(d, Clear) and d.rule_id == RULE]
    clock.set(T0 + timedelta(seconds=3 + 601))
    cleared = [d for d in engine.tick() if isinstance(d, Clear) and d.rule_id == RULE]
    assert [c.scope for c in cleared] == ["terminal:T1"]
