"""The RRN counter kept in memory: durable with the commit that used it, never reused after a
rollback or a reopen, and shared correctly by two ledgers on one file."""

from __future__ import annotations

from pathlib import Path

import pytest

from posguard.host.ledger import Ledger
from posguard.host.seed import default_seed


def _fail_after_rrn(led: Ledger) -> None:
    with led.atomic():
        led.next_rrn()
        raise RuntimeError("decision failed")


def _rrns(led: Ledger, n: int) -> list[str]:
    with led.atomic():
        return [led.next_rrn() for _ in range(n)]


def test_rrn_survives_reopen_and_is_written_once_per_commit(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    led = Ledger.open(path)
    led.load_seed(default_seed())
    assert _rrns(led, 3) == ["000000000001", "000000000002", "000000000003"]
    led.close()
    again = Ledger.open(path)
    assert _rrns(again, 1) == ["000000000004"]
    again.close()


def test_rolled_back_rrns_are_skipped_never_reused(tmp_path: Path) -> None:
    led = Ledger.open(tmp_path / "h.db")
    with pytest.raises(RuntimeError):
        _fail_after_rrn(led)
    after = _rrns(led, 1)[0]
    assert after == "000000000001"  # nothing was committed: the counter re-reads meta
    with led.atomic():
        led.next_rrn()
        with pytest.raises(RuntimeError):  # a savepoint rolls back alone
            _fail_after_rrn(led)
        last = led.next_rrn()
    assert last == "000000000004"  # the rolled-back savepoint's 3 is skipped
    assert _rrns(led, 1) == ["000000000005"]


def test_two_ledgers_on_one_file_never_hand_out_the_same_rrn(tmp_path: Path) -> None:
    a, b = Ledger.open(tmp_path / "h.db"), Ledger.open(tmp_path / "h.db")
    seen = _rrns(a, 2) + _rrns(b, 2) + _rrns(a, 1)
    assert len(set(seen)) == 5
    assert seen[-1] == "000000000005"
