"""A correlation group's window, expired from a heap, keeps exactly the terminals whose latest
matching event is inside the window: the same set as scanning every terminal at each hit (what
the evaluator did before), whatever order the events arrive in."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from posguard.fleet.diagnosis.correlation import _Group
from posguard.fleet.diagnosis.observed import Observed

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=30)


def _event(n: int, terminal: str, second: int) -> Observed:
    return Observed(
        id=n, terminal_id=terminal, merchant_id="M1", seq=n, ts=T0 + timedelta(seconds=second),
        kind="fault", code="NET.READ_TIMEOUT",
    )  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABCDEFG"), st.integers(0, 120)), max_size=60))
def test_heap_expiry_keeps_what_a_full_scan_keeps(hits: list[tuple[str, int]]) -> None:
    g = _Group()
    recent: dict[str, Observed] = {}
    counts: Counter[str] = Counter()
    for n, (terminal, second) in enumerate(hits):
        ev = _event(n, terminal, second)
        g.note(ev, 1)
        g.expire(ev.ts - WINDOW)
        # the scan the heap replaces
        recent[terminal] = ev
        counts[terminal] += 1
        for tid in [t for t, e in recent.items() if e.ts < ev.ts - WINDOW]:
            del recent[tid]
            del counts[tid]
        assert g.recent == recent
        assert g.hits == counts


def test_a_late_older_event_expires_with_its_own_time() -> None:
    """The terminal's latest *arrival* is what counts: an older event arriving after a newer
    one leaves the terminal in the window only as long as that older time allows."""
    g = _Group()
    g.note(_event(1, "A", 100), 1)
    g.note(_event(2, "A", 60), 1)  # arrives late, older
    g.note(_event(3, "B", 95), 1)
    g.expire(T0 + timedelta(seconds=65))
    assert set(g.recent) == {"B"}
    assert g.hits == Counter({"B": 1})


def test_reset_forgets_the_window() -> None:
    g = _Group()
    g.note(_event(1, "A", 10), 1)
    g.members.add("A")
    g.reset()
    g.expire(T0 + timedelta(seconds=1000))
    assert g.recent == {}
    assert g.hits == Counter()
    assert g.members == set()
    assert g.recent_order == []


def test_tried_terminals_leave_the_issuer_group_after_the_window() -> None:
    g = _Group()
    g.try_("A", T0)
    g.try_("B", T0 + timedelta(seconds=20))
    g.try_("A", T0 + timedelta(seconds=40))  # tried again: stays
    g.expire_tried(T0 + timedelta(seconds=25))
    assert set(g.tried) == {"A"}
