"""The durable outbox: numbering that survives restarts, ordering, trimming, refusal of bad data."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from posguard.common.errors import ConfigError, EventError
from posguard.common.events import EventKind
from posguard.terminal.agent.outbox import Outbox

TID, MID = "T0000001", "898310048990001"


def test_seq_is_monotonic_across_restarts_and_acks(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    box = Outbox(db, TID, MID)
    seqs = [box.emit(EventKind.HEARTBEAT, uptime_s=i).seq for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert box.ack(seqs) == 5
    box.close()
    box = Outbox(db, TID, MID)
    assert box.pending() == 0
    assert box.emit(EventKind.LIFECYCLE, event="boot").seq == 6  # never reused after ack
    box.close()


def test_events_survive_a_killed_process(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    child = textwrap.dedent(
        f"""
        import os, sys
        from posguard.common.events import EventKind
        from posguard.terminal.agent.outbox import Outbox
        box = Outbox(sys.argv[1], "{TID}", "{MID}")
        for i in range(20):
            box.emit(EventKind.TRANSACTION, type="sale", outcome="approved", stan=f"{{i:06d}}")
        os._exit(9)  # no close, no flush: what is committed must be there
        """
    )
    proc = subprocess.run([sys.executable, "-c", child, str(db)], timeout=60, check=False)
    assert proc.returncode == 9
    box = Outbox(db, TID, MID)
    events = box.peek(100)
    assert [e.seq for e in events] == list(range(1, 21))
    assert [e.data["stan"] for e in events] == [f"{i:06d}" for i in range(20)]
    assert all(e.terminal_id == TID and e.merchant_id == MID for e in events)


def test_bad_events_are_refused_and_leave_no_row_or_gap(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", TID, MID)
    with pytest.raises(EventError, match="clear card number"):
        box.emit(EventKind.TRANSACTION, note="card 6212345678901232")
    with pytest.raises(EventError, match="needs a catalog code"):
        box.emit(EventKind.FAULT)
    with pytest.raises(EventError, match="not an event kind"):
        box.emit("explosion")
    with pytest.raises(EventError, match="larger than 65536 bytes"):  # the fleet's limit
        box.emit(EventKind.LIFECYCLE, note="x" * 70_000)
    with pytest.raises(EventError, match="card number"):  # however it is written
        box.emit(EventKind.TRANSACTION, card=["6212", "3456", "7890", "1232"])
    assert box.pending() == 0
    assert box.emit(EventKind.FAULT, "NET.READ_TIMEOUT").seq == 1  # rolled back: no gap


def test_outbox_belongs_to_one_terminal(tmp_path: Path) -> None:
    Outbox(tmp_path / "o.db", TID, MID).close()
    with pytest.raises(ConfigError, match="belongs to terminal T0000001"):
        Outbox(tmp_path / "o.db", "T0000002", MID)


def test_full_buffer_drops_oldest_heartbeats_first(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", TID, MID, max_pending=5)
    box.emit(EventKind.FAULT, "PRN.PAPER_OUT")
    for i in range(4):
        box.emit(EventKind.HEARTBEAT, uptime_s=i)
    box.emit(EventKind.FAULT_CLEARED, "PRN.PAPER_OUT")
    box.emit(EventKind.HEARTBEAT, uptime_s=99)
    kinds = [e.kind for e in box.peek()]
    assert box.pending() == 5
    assert kinds[0] is EventKind.FAULT  # the fault was kept, two old heartbeats went
    assert EventKind.FAULT_CLEARED in kinds
    assert box.dropped == 2


def test_full_storage_is_a_named_error_and_numbering_stays_whole(tmp_path: Path) -> None:
    from posguard.terminal.agent.outbox import OutboxError

    box = Outbox(tmp_path / "o.db", TID, MID)
    box.emit(EventKind.LIFECYCLE, event="boot")
    pages = box._db.execute("PRAGMA page_count").fetchone()[0]
    box._db.execute(f"PRAGMA max_page_count={pages + 1}")
    errors: list[OutboxError] = []
    for i in range(500):
        try:
            box.emit(EventKind.HEARTBEAT, uptime_s=i, pad="x" * 200)
        except OutboxError as exc:
            errors.append(exc)
            break
    assert errors
    assert errors[0].code == "SW.STORAGE_FULL"
    seqs = [e.seq for e in box.peek(1000)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_storage_faults_are_classified_by_sqlite_result_code() -> None:
    import sqlite3

    from posguard.terminal.storage import storage_code

    def error(code: int, message: str) -> sqlite3.Error:
        exc = sqlite3.OperationalError(message)
        exc.sqlite_errorcode = code  # type: ignore[attr-defined]
        return exc

    assert storage_code(error(13, "database or disk is full")) == "SW.STORAGE_FULL"
    assert storage_code(error(10 | (3 << 8), "disk I/O error")) == "SW.STORAGE_FULL"  # IOERR_WRITE
    assert storage_code(error(5, "database is locked")) is None
    assert storage_code(sqlite3.OperationalError("no code attached")) is None
