"""The journal: write-before-send records, STANs that never repeat, recovery, totals."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from posguard.common.errors import ConfigError
from posguard.terminal.journal import Journal, Kind, TxnState
from posguard.terminal.journal.store import Draft

PAN = "6212345678901232"
KEY = bytes(range(16))
TID = "T0000001"


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal.open(tmp_path / "j.db", key=KEY, terminal_id=TID)
    yield j
    j.close()


def sale(amount: int = 1000, kind: Kind = Kind.SALE) -> Draft:
    return Draft(kind=kind, amount=amount, pan=PAN, expiry="3012", entry_mode="051")


def test_record_is_committed_before_begin_returns(journal: Journal) -> None:
    rec = journal.begin(sale())
    other = sqlite3.connect(journal.path)  # a second reader sees it: it is on disk, not in a cache
    row = other.execute(
        "SELECT state, reversal_reason, stan FROM txns WHERE id=?", (rec.id,)
    ).fetchone()
    other.close()
    assert row == ("sending", "98", rec.stan)
    assert journal._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_clear_pan_never_stored(journal: Journal) -> None:
    rec = journal.begin(sale())
    journal.close()
    data = b"".join(p.read_bytes() for p in journal.path.parent.iterdir())
    assert PAN.encode() not in data
    assert rec.masked_pan == "621234******1232"
    j2 = Journal.open(journal.path, key=KEY, terminal_id=TID)
    assert j2.card(rec) == (PAN, "3012")
    j2.close()


def test_stans_increase_and_survive_reopen(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "j.db", key=KEY, terminal_id=TID)
    a = [j.begin(sale()).stan, j.next_stan(), j.begin(sale()).stan]
    j.close()
    j = Journal.open(tmp_path / "j.db", key=KEY, terminal_id=TID)
    assert a == ["000001", "000002", "000003"]
    assert j.next_stan() == "000004"
    j._db.execute("UPDATE counters SET value = 999999 WHERE name = 'stan'")
    assert j.next_stan() == "000001"  # wraps after 999999, never 000000
    j.close()


def test_wrong_terminal_refused(tmp_path: Path) -> None:
    Journal.open(tmp_path / "j.db", key=KEY, terminal_id=TID).close()
    with pytest.raises(ConfigError, match="belongs to terminal T0000001"):
        Journal.open(tmp_path / "j.db", key=KEY, terminal_id="T0000002")


def test_life_cycle_and_recovery(journal: Journal) -> None:
    lost = journal.begin(sale())
    unfinished = journal.begin(sale())
    done = journal.begin(sale())
    inquiry = journal.begin(sale(0, Kind.BALANCE))
    refund = journal.begin(sale(300, Kind.REFUND))
    assert refund.state is TxnState.ADVICE_PENDING
    assert inquiry.reversal_reason is None
    journal.mark_approved(unfinished.id, rc="00", rrn="000000000001", auth_code="123456", host="p")
    assert journal.get(unfinished.id).reversal_reason == "96"
    journal.mark_approved(done.id, rc="00", rrn="000000000002", auth_code="123457", host="p")
    journal.mark_completed(done.id)
    counts = journal.recover()
    assert counts == {"no_answer": 1, "not_completed": 1, "inquiries": 1}
    pending = {r.id: r.reversal_reason for r in journal.pending_reversals()}
    assert pending == {lost.id: "98", unfinished.id: "96"}
    assert journal.get(done.id).state is TxnState.COMPLETED
    assert [r.id for r in journal.pending_advices()] == [refund.id]
    journal.mark_reversed(lost.id)
    assert journal.get(lost.id).state is TxnState.REVERSED


def test_totals_and_void_and_batch_close(journal: Journal) -> None:
    s1, s2 = journal.begin(sale(1000)), journal.begin(sale(2500))
    for r in (s1, s2):
        journal.mark_approved(r.id, rc="00", rrn="1", auth_code="1", host="p")
        journal.mark_completed(r.id)
    void = journal.begin(
        Draft(
            kind=Kind.VOID,
            amount=1000,
            pan=PAN,
            expiry="3012",
            entry_mode="051",
            orig=journal.get(s1.id),
        )
    )
    assert void.orig_stan == s1.stan
    journal.mark_approved(void.id, rc="00", rrn="2", auth_code="2", host="p")
    journal.mark_completed(void.id)
    refund = journal.begin(sale(400, Kind.REFUND))
    journal.mark_advice_done(refund.id, rc="00", rrn="3", host="p")
    declined = journal.begin(sale(9999))
    journal.mark_declined(declined.id, rc="51", code="TXN.INSUFFICIENT_FUNDS", host="p")
    t = journal.totals()
    assert (t.debit_count, t.debit_amount, t.credit_count, t.credit_amount) == (1, 2500, 1, 400)
    batch = journal.current_batch()
    assert journal.record_settlement(batch, t, "95", close=False) == batch
    assert journal.record_settlement(batch, t, "00", close=True) == "000002"
    assert journal.totals() == type(t)()


CHILD = """
import sys
from pathlib import Path
from posguard.terminal.journal import Journal, Kind
from posguard.terminal.journal.store import Draft
j = Journal.open(Path(sys.argv[1]), key=bytes(range(16)), terminal_id="T0000001")
print("ready", flush=True)
while True:
    d = Draft(kind=Kind.SALE, amount=1, pan="6212345678901232", expiry="3012", entry_mode="051")
    r = j.begin(d)
    j.mark_approved(r.id, rc="00", rrn="1", auth_code="1", host="p")
"""


def test_stan_never_repeats_after_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    for round_ in range(3):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(0.15 + 0.05 * round_)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    j = Journal.open(db, key=KEY, terminal_id=TID)
    stans = [r.stan for r in j.records()]
    assert len(stans) > 3
    assert len(stans) == len(set(stans))
    nxt = j.next_stan()
    assert nxt not in stans
    assert int(nxt) == max(int(s) for s in stans) + 1
    counts = j.recover()
    assert counts["not_completed"] + counts["no_answer"] >= 1
    assert all(r.state is TxnState.REVERSAL_PENDING for r in j.records())
    j.close()


def test_a_full_disk_is_a_journal_error_and_leaves_no_half_record(journal: Journal) -> None:
    from posguard.terminal.journal.store import JournalError

    before = journal.records()
    pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
    journal._db.execute(f"PRAGMA max_page_count={pages}")  # SQLite answers SQLITE_FULL from now

    def fill() -> None:  # the last free pages, then one write more
        for _ in range(200):
            journal.begin(sale())

    with pytest.raises(JournalError, match="full"):  # SQLite's own message, not a rollback's
        fill()
    journal._db.execute("PRAGMA max_page_count=1073741823")
    after = journal.records()
    assert all(r.state is TxnState.SENDING for r in after[len(before) :])
    stans = [r.stan for r in after]
    assert len(set(stans)) == len(stans)
    journal.begin(sale())  # the journal works again once there is room


def test_a_version_1_journal_is_upgraded_in_place_and_its_cards_still_open(
    tmp_path: Path,
) -> None:
    """A journal written before schema 2 (no reversal outcome columns; card data sealed under
    the TMK) opens: the columns are added, old records keep their card data readable through
    the legacy key, new ones are sealed under the vault key."""
    from posguard.terminal.journal.schema import DDL

    path = tmp_path / "v1.db"
    old = Journal.open(path, key=KEY, terminal_id=TID)  # KEY plays the TMK of version 1
    rec = old.begin(Draft(Kind.SALE, 100, PAN, "3012", "051"))
    old.close()
    conn = sqlite3.connect(path)
    for col in ("reversal_unanswered", "reversal_rc", "training"):
        conn.execute(f"ALTER TABLE txns DROP COLUMN {col}")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    conn.commit()
    conn.close()
    assert "reversal_rc" in DDL
    vault = bytes(range(32))
    j = Journal.open(path, key=vault, terminal_id=TID, legacy_keys=(KEY,))
    try:
        assert j.card(j.get(rec.id)) == (PAN, "3012")
        assert j.get(rec.id).reversal_unanswered == 0
        schema = j._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0]
        assert schema == "3"  # the reversal outcome columns (2), the training flag (3)
        assert j.get(rec.id).training is False
        new = j.begin(Draft(Kind.SALE, 200, PAN, "3012", "051"))
        assert j.card(new) == (PAN, "3012")
    finally:
        j.close()
    j2 = Journal.open(path, key=vault, terminal_id=TID)  # without the legacy key
    try:
        with pytest.raises(ConfigError, match="wrong vault key"):
            j2.card(j2.get(rec.id))
    finally:
        j2.close()
