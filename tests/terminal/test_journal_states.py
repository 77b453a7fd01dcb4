"""Property test of the journal: any sequence of state changes and crashes keeps its promises."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from posguard.terminal.journal import Journal, Kind, TxnState
from posguard.terminal.journal.store import Draft

PAN = "6212345678901232"
KEY = bytes(range(16))
# State invariants do not depend on fsync; a RAM disk keeps 1,000 commits fast.
RAM = "/dev/shm" if Path("/dev/shm").is_dir() else None


class JournalMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(dir=RAM))
        self.j = Journal.open(self.dir / "j.db", key=KEY, terminal_id="T0000001")
        self.stans: set[str] = set()

    def _in(self, *states: TxnState) -> list[int]:
        return [r.id for r in self.j.records() if r.state in states]

    @rule(kind=st.sampled_from(list(Kind)), amount=st.integers(1, 10**6))
    def begin(self, kind: Kind, amount: int) -> None:
        rec = self.j.begin(
            Draft(kind=kind, amount=amount, pan=PAN, expiry="3012", entry_mode="051")
        )
        assert rec.stan not in self.stans
        self.stans.add(rec.stan)
        assert rec.state is (TxnState.ADVICE_PENDING if kind is Kind.REFUND else TxnState.SENDING)

    @precondition(lambda self: self._in(TxnState.SENDING))
    @rule(data=st.data(), outcome=st.sampled_from(["approve", "decline", "not_sent", "lost"]))
    def answer(self, data: st.DataObject, outcome: str) -> None:
        rid = data.draw(st.sampled_from(self._in(TxnState.SENDING)))
        if outcome == "approve":
            self.j.mark_approved(rid, rc="00", rrn="1", auth_code="1", host="p")
        elif outcome == "decline":
            self.j.mark_declined(rid, rc="51", code="TXN.INSUFFICIENT_FUNDS", host="p")
        elif outcome == "not_sent":
            self.j.mark_not_sent(rid, code="NET.CONNECT_REFUSED")
        else:
            self.j.mark_reversal_due(rid, reason="98", code="NET.READ_TIMEOUT")

    @precondition(lambda self: self._in(TxnState.APPROVED))
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        self.j.mark_completed(data.draw(st.sampled_from(self._in(TxnState.APPROVED))))

    @precondition(lambda self: self._in(TxnState.REVERSAL_PENDING))
    @rule(data=st.data())
    def reversed_(self, data: st.DataObject) -> None:
        self.j.mark_reversed(data.draw(st.sampled_from(self._in(TxnState.REVERSAL_PENDING))))

    @rule()
    def crash_and_restart(self) -> None:
        before = {r.id: r for r in self.j.records()}
        self.j.close()
        self.j = Journal.open(self.dir / "j.db", key=KEY, terminal_id="T0000001")
        self.j.recover()
        for r in self.j.records():
            old = before[r.id]
            if old.state is TxnState.SENDING and old.kind.reversible:
                assert (r.state, r.reversal_reason) == (TxnState.REVERSAL_PENDING, "98")
            elif old.state is TxnState.APPROVED:
                assert (r.state, r.reversal_reason) == (TxnState.REVERSAL_PENDING, "96")
            elif old.state is TxnState.SENDING:
                assert r.state is TxnState.NOT_SENT
            else:
                assert r.state is old.state

    @invariant()
    def reversal_reason_only_where_a_reversal_can_be_due(self) -> None:
        for r in self.j.records():
            if r.state in (TxnState.COMPLETED, TxnState.DECLINED, TxnState.NOT_SENT):
                assert r.reversal_reason is None
            if r.state is TxnState.APPROVED and r.kind.reversible:
                assert r.reversal_reason == "96"

    @invariant()
    def totals_are_the_completed_charges(self) -> None:
        t = self.j.totals()
        done = [r for r in self.j.records() if r.state is TxnState.COMPLETED]
        debits = [r.amount for r in done if r.kind in (Kind.SALE, Kind.COMPLETION)]
        credits = [r.amount for r in done if r.kind is Kind.REFUND]
        assert (t.debit_count, t.debit_amount) == (len(debits), sum(debits))
        assert (t.credit_count, t.credit_amount) == (len(credits), sum(credits))

    def teardown(self) -> None:
        self.j.close()
        shutil.rmtree(self.dir, ignore_errors=True)


JournalMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=20, deadline=None)
TestJournalStates = JournalMachine.TestCase
