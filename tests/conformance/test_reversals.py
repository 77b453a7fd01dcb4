"""Reversals against a scripted reference host (UnionPay practice).

Sources: UnionPay POS terminal practice for 冲正 (reversal): the terminal reverses when it
cannot know the outcome (no answer: reason 98) or could not complete an approval (96), or the
approval's MAC failed (A0); an answered reversal is done whatever its 39; 冲正重发次数
(resend count, default 3); 隔日交易不冲正 (no reversal of an earlier day's transaction).
ISO 8583:1987 0400/0401/0410.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from refhost import NO_ANSWER

from conftest import EXPIRY, PAN, READ
from posguard.common.events import EventKind
from posguard.iso8583.codec import Message
from posguard.terminal.journal import TxnState
from posguard.terminal.result import Outcome


async def test_no_answer_operator_answered_at_timeout_then_one_reversal_98(
    lab_factory: Any,
) -> None:
    """Rule: no answer in time → the operator is answered at the configured timeout (not
    twice it), and exactly one reversal with reason 98 reaches the host *after* that answer.
    Source: UnionPay practice (冲正原因 98: 终端在时限内未收到应答); the wait is the
    configured timeout (issue #13)."""
    black_holed: list[str] = []

    def script(msg: Message) -> Any:
        if msg["t"] == "0200" and not black_holed:
            black_holed.append(str(msg["11"]))
            return NO_ANSWER
        return None  # the reversal and anything later: 00

    async with lab_factory(script) as lab:
        await lab.terminal.sign_on()
        t0 = time.monotonic()
        r = await lab.terminal.sale(PAN, EXPIRY, 1000)
        answered = time.monotonic()
        assert answered - t0 <= READ * 1.10, f"operator waited {answered - t0:.2f}s"
        assert (r.outcome, r.reversal_reason, r.charged) == (Outcome.PENDING_REVERSAL, "98", False)
        await lab.terminal.drain()
        (rev,) = lab.host.requests(("0400", "0401"))
        assert (rev["t"], rev["39"], rev["11"]) == ("0400", "98", r.stan)
        (sent_at,) = lab.host.times("0400")
        assert sent_at >= answered
        assert lab.terminal.journal.find(stan=r.stan or "").state is TxnState.REVERSED  # type: ignore[union-attr]


async def test_0410_with_25_closes_the_reversal_and_the_next_sale_goes_through(
    lab_factory: Any,
) -> None:
    """Rule: any authentic 0410 closes the reversal; its field 39 is recorded (25 "original
    not found" means the host never booked it: done). The next sale is not blocked.
    Source: UnionPay practice; ISO 8583 0410 is the reversal's answer."""
    first: list[str] = []

    def script(msg: Message) -> Any:
        if msg["t"] == "0200" and not first:
            first.append(str(msg["11"]))
            return NO_ANSWER
        if msg["t"] in ("0400", "0401"):
            return {"39": "25"}
        return None

    async with lab_factory(script) as lab:
        r = await lab.terminal.sale(PAN, EXPIRY, 1000)
        assert r.outcome is Outcome.PENDING_REVERSAL
        await lab.terminal.drain()
        rec = lab.terminal.journal.find(stan=r.stan or "")
        assert (rec.state, rec.reversal_rc) == (TxnState.REVERSED, "25")  # type: ignore[union-attr]
        nxt = await lab.terminal.sale(PAN, EXPIRY, 2000)
        assert nxt.outcome is Outcome.APPROVED
        assert len(lab.host.requests(("0400", "0401"))) == 1


async def test_reversal_unanswered_three_times_fails_and_unblocks_sales(lab_factory: Any) -> None:
    """Rule: a reversal is resent only while no answer comes, up to 冲正重发次数 (default 3);
    then it is marked failed, a fault slip is printed, RECON.REVERSAL_FAILED is emitted, and
    sales are no longer blocked. Source: UnionPay POS parameter 冲正重发次数."""
    first: list[str] = []

    def script(msg: Message) -> Any:
        if msg["t"] == "0200" and not first:
            first.append(str(msg["11"]))
            return NO_ANSWER
        if msg["t"] in ("0400", "0401"):
            return NO_ANSWER
        return None

    async with lab_factory(script) as lab:
        r = await lab.terminal.sale(PAN, EXPIRY, 1000)
        await lab.terminal.drain()  # try 1 (0400), unanswered
        blocked = await lab.terminal.sale(PAN, EXPIRY, 2000)  # try 2 (0401) goes first
        assert (blocked.outcome, blocked.code) == (
            Outcome.FAILED_NO_CHARGE,
            "RECON.REVERSAL_PENDING",
        )
        unblocked = await lab.terminal.sale(PAN, EXPIRY, 3000)  # try 3, then given up
        assert unblocked.outcome is Outcome.APPROVED
        assert [m["t"] for m in lab.host.requests(("0400", "0401"))] == ["0400", "0401", "0401"]
        rec = lab.terminal.journal.find(stan=r.stan or "")
        assert rec.state is TxnState.REVERSAL_FAILED  # type: ignore[union-attr]
        assert "RECON.REVERSAL_FAILED" in lab.events.codes(EventKind.REVERSAL)
        slips = [p for p in lab.printed if p.txn_type == "reversal_failed"]
        assert [(s.stan, s.amount_minor) for s in slips] == [(r.stan, 1000)]
        assert lab.terminal.journal.pending_reversals() == []


async def test_reversal_tries_are_configurable(lab_factory: Any) -> None:
    """Rule: the resend count is a terminal parameter (冲正重发次数): with 1, the first
    unanswered try gives up. Source: UnionPay POS terminal parameters."""

    def script(msg: Message) -> Any:
        return NO_ANSWER if msg["t"] in ("0200", "0400", "0401") else None

    async with lab_factory(script, reversal_tries=1) as lab:
        r = await lab.terminal.sale(PAN, EXPIRY, 1000)
        await lab.terminal.drain()
        assert lab.terminal.journal.find(stan=r.stan or "").state is TxnState.REVERSAL_FAILED  # type: ignore[union-attr]
        assert len(lab.host.requests(("0400", "0401"))) == 1


async def test_no_reversal_of_an_earlier_day(lab_factory: Any) -> None:
    """Rule: 隔日交易不冲正: a reversal still pending from an earlier day is not sent; it
    becomes a reconciliation item (RECON.REVERSAL_FAILED) and blocks nothing.
    Source: UnionPay POS practice."""

    def script(msg: Message) -> Any:
        return NO_ANSWER if msg["t"] == "0200" else None

    async with lab_factory(script) as lab:
        j = lab.terminal.journal
        await lab.terminal.sign_on()
        # Yesterday's sale that got no answer, still pending (e.g. the terminal was off).
        from posguard.terminal.journal.records import Kind
        from posguard.terminal.journal.store import Draft

        rec = j.begin(Draft(Kind.SALE, 500, PAN, EXPIRY, "052"))
        yesterday = (date.today() - timedelta(days=1)).strftime("%m%d")
        j._db.execute("UPDATE txns SET local_date = ? WHERE id = ?", (yesterday, rec.id))
        j.mark_reversal_due(rec.id, reason="98", code="NET.READ_TIMEOUT")
        await lab.terminal.catch_up()
        assert j.get(rec.id).state is TxnState.REVERSAL_FAILED
        assert lab.host.requests(("0400", "0401")) == []
        failed = lab.reversal_events("failed")
        assert [(c, d["why"]) for c, d in failed] == [("RECON.REVERSAL_FAILED", "earlier_day")]


async def test_approval_with_a_bad_mac_is_reversed_with_A0(lab_factory: Any) -> None:
    """Rule: an approving answer whose MAC does not verify cannot be trusted as approval nor as
    decline: the terminal signs on again and reverses it with reason A0.
    Source: UnionPay practice (冲正原因 A0: MAC校验错)."""
    bad: list[str] = []

    def script(msg: Message) -> Any:
        if msg["t"] == "0200" and not bad:
            bad.append(str(msg["11"]))
            return {"39": "00", "37": "000000000001", "64": b"\x00" * 8, "mac": False}
        return None

    async with lab_factory(script) as lab:
        await lab.terminal.sign_on()
        r = await lab.terminal.sale(PAN, EXPIRY, 1000)
        assert (r.outcome, r.reversal_reason, r.code) == (Outcome.REVERSED, "A0", "TXN.MAC_ERROR")
        (rev,) = lab.host.requests("0400")
        assert (rev["11"], rev["39"]) == (r.stan, "A0")
        assert lab.host.sign_ons == 2  # new keys before the reversal
        assert lab.printed == []
