"""Settlement (``engine/settlement.py: settle``) on its own, over a fake host session and an
in-memory journal: no sockets, no SQLite. The rules are UnionPay practice: the 0510's field 48
flag (对账应答代码) says 1 balanced, 2 out of balance, 3 error; out of balance, the batch is
uploaded (magnetic-stripe transactions 8 to an 0320 in field 48, the others one per 0320) and
ended with an 0320 of 60.3 = 202; the batch number advances only when the batch is closed."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from posguard.common.events import EventKind
from posguard.iso8583.fields import (
    SettlementFlag,
    SettlementTotals,
    parse_upload_entries,
    settlement_totals,
)
from posguard.terminal.engine.session import Reply, Status
from posguard.terminal.engine.settlement import SettlementResult, settle
from posguard.terminal.journal.records import Kind, Record, Totals, TxnState
from posguard.terminal.reversal import RoundReport
from posguard.terminal.saf import ForwardReport

from .engine_fakes import HOST, PAN, FakeReversals, FakeSession, config, record

BATCH = "000042"
TOTALS = Totals(debit_count=2, debit_amount=3000)


def answer_0510(flag: str, rc: str = "00") -> Reply:
    """The host's 0510 (or end-of-upload 0330) with ``flag`` in field 48."""
    f48 = settlement_totals(SettlementTotals(2, 3000, 0, 0), flag)
    return Reply(Status.OK, {"t": "0510", "39": rc, "48": f48}, HOST, None)


def answer(rc: str, mti: str = "0330") -> Reply:
    return Reply(Status.OK, {"t": mti, "39": rc}, HOST, None if rc == "00" else "TXN.HOST_ERROR")


@dataclass
class Books:
    """The journal as settlement sees it: one open batch with ``owed`` records in it."""

    owed: list[Record] = field(default_factory=list)
    stan: int = 500
    settlements: list[tuple[str, Totals, str, bool]] = field(default_factory=list)

    def current_batch(self) -> str:
        return BATCH

    def next_stan(self) -> str:
        self.stan += 1
        return f"{self.stan:06d}"

    def totals(self, batch: str) -> Totals:
        assert batch == BATCH
        return TOTALS

    def records(self, *, batch: str) -> list[Record]:
        assert batch == BATCH
        return list(self.owed)

    def card(self, rec: Record) -> tuple[str, str]:
        return PAN, "3012"

    def record_settlement(self, batch: str, totals: Totals, result: str, *, close: bool) -> str:
        self.settlements.append((batch, totals, result, close))
        return "000043" if close else batch


@dataclass
class AdviceRounds:
    """The advice forwarder as settlement uses it: a round leaves ``report``."""

    report: ForwardReport
    rounds: list[bool] = field(default_factory=list)  # only_due of each round

    async def run(self, *, only_due: bool) -> ForwardReport:
        self.rounds.append(only_due)
        return self.report


async def run(
    session: FakeSession,
    books: Books | None = None,
    *,
    reversals: RoundReport | None = None,
    advices_queued: int = 0,
    rc95_variant: bool = False,
) -> tuple[SettlementResult, Books, FakeReversals, AdviceRounds]:
    books = books or Books()
    rev = FakeReversals(report=reversals or RoundReport())
    adv = AdviceRounds(ForwardReport(still_queued=advices_queued))
    result = await settle(
        cfg=config(settle_rc95_out_of_balance=rc95_variant),
        session=session,
        journal=books,
        reversals=rev,
        advices=adv,
    )
    return result, books, rev, adv


# -- before the 0500 -------------------------------------------------------------------------


async def test_no_sign_on_no_settlement() -> None:
    failed = Reply(Status.NOT_SENT, None, None, "NET.CONNECT_REFUSED")
    session = FakeSession(sign_on=[failed])
    result, books, rev, _adv = await run(session)
    assert (result.balanced, result.code) == (False, "NET.CONNECT_REFUSED")
    assert result.next_batch == BATCH
    assert session.sent == []
    assert rev.rounds == []
    assert books.settlements == []


@pytest.mark.parametrize(
    ("reversals_left", "advices_left", "advice_rounds"),
    [(1, 0, []), (0, 2, [False])],
    ids=["a reversal unacknowledged", "advices still queued"],
)
async def test_owed_reversals_and_advices_go_first_and_block_settlement(
    reversals_left: int, advices_left: int, advice_rounds: list[bool]
) -> None:
    """UnionPay practice: reversals, then advices, are sent before settlement (every one owed,
    not only those whose backoff ran out); the host's totals would not match otherwise."""
    session = FakeSession()
    result, books, rev, adv = await run(
        session, reversals=RoundReport(still_pending=reversals_left), advices_queued=advices_left
    )
    assert (result.balanced, result.code) == (False, "RECON.REVERSAL_PENDING")
    assert rev.rounds == [False]
    assert adv.rounds == advice_rounds  # advices wait while a reversal is owed
    assert session.sent == []
    assert books.settlements == []


# -- the 0500 and its answer -----------------------------------------------------------------


async def test_balanced_closes_the_batch() -> None:
    session = FakeSession(answer_0510(SettlementFlag.BALANCED))
    result, books, _rev, adv = await run(session)
    assert result == SettlementResult(True, BATCH, "000043", TOTALS, "00", None, 0)
    (sent,) = session.sent
    assert (sent["t"], sent["11"]) == ("0500", "000501")
    assert sent["48"] == settlement_totals(SettlementTotals(2, 3000, 0, 0))
    assert books.settlements == [(BATCH, TOTALS, "00", True)]
    assert adv.rounds == [False]


async def test_an_error_flag_or_a_refusal_leaves_the_batch_open() -> None:
    for reply, rc, code in [
        (answer_0510(SettlementFlag.ERROR), "00", "RECON.SETTLEMENT_FAILED"),
        (answer("96", "0510"), "96", "TXN.HOST_ERROR"),
    ]:
        session = FakeSession(reply)
        result, books, _r, _a = await run(session)
        assert (result.balanced, result.code, result.rc, result.next_batch) == (
            False,
            code,
            rc,
            BATCH,
        )
        assert books.settlements == [(BATCH, TOTALS, rc, False)]


async def test_no_answer_to_the_0500_records_nothing() -> None:
    session = FakeSession(Reply(Status.NO_ANSWER, None, HOST, "NET.READ_TIMEOUT"))
    result, books, _r, _a = await run(session)
    assert (result.balanced, result.code) == (False, "NET.READ_TIMEOUT")
    assert books.settlements == []


async def test_a_stale_session_signs_on_and_sends_the_0500_once_more() -> None:
    """UnionPay practice: A0 / 77 / 99 ask for a new sign-on; settlement messages are
    idempotent on the host, so the same 0500 is sent again after it."""
    session = FakeSession(answer("A0", "0510"), answer_0510(SettlementFlag.BALANCED))
    result, _books, _r, _a = await run(session)
    assert result.balanced is True
    assert session.sign_on_calls == 2  # before the 0500, then after the A0
    first, again = session.sent
    assert first == again


# -- out of balance: the batch upload --------------------------------------------------------


def owed_batch() -> list[Record]:
    """Nine swiped sales, a chip sale, a refund, and what is not uploaded: a voided sale, a
    practice sale, a declined one."""
    swiped = [
        record(id=i, stan=f"{i:06d}", state=TxnState.COMPLETED, entry_mode="022", amount=100 * i)
        for i in range(1, 10)
    ]
    return [
        *swiped,
        record(id=10, stan="000010", state=TxnState.COMPLETED, entry_mode="051"),
        record(id=11, stan="000011", state=TxnState.COMPLETED, kind=Kind.REFUND, entry_mode="022"),
        record(id=12, stan="000012", state=TxnState.COMPLETED, voided=True),
        record(id=13, stan="000013", state=TxnState.COMPLETED, training=True),
        record(id=14, stan="000014", state=TxnState.DECLINED),
    ]


async def test_out_of_balance_uploads_the_batch_then_closes_it() -> None:
    ok0330 = answer("00")
    session = FakeSession(
        answer_0510(SettlementFlag.OUT_OF_BALANCE),
        ok0330,  # swiped 1-8
        ok0330,  # swiped 9
        ok0330,  # the chip sale
        ok0330,  # the refund
        answer_0510(SettlementFlag.BALANCED),  # the end of the upload
    )
    result, books, _r, _a = await run(session, Books(owed_batch()))
    settle_msg, group1, group2, chip, refund, end = session.sent
    assert settle_msg["t"] == "0500"
    assert [e.stan for e in parse_upload_entries(str(group1["48"]))] == [
        f"{i:06d}" for i in range(1, 9)
    ]
    assert [e.stan for e in parse_upload_entries(str(group2["48"]))] == ["000009"]
    assert (chip["11"], refund["11"]) == ("000010", "000011")  # each under its own STAN
    assert (end["t"], end["48"]) == ("0320", "0011")
    assert str(end["60"]).endswith("202")  # 60.3: end of batch upload
    assert books.settlements == [
        (BATCH, TOTALS, "out_of_balance", False),
        (BATCH, TOTALS, "00", True),
    ]
    assert session.emitted == [
        (EventKind.FAULT, "RECON.TOTALS_MISMATCH"),
        (EventKind.FAULT_CLEARED, "RECON.TOTALS_MISMATCH"),
    ]
    assert (result.balanced, result.uploaded, result.next_batch) == (True, 11, "000043")


async def test_an_upload_still_out_of_balance_closes_the_batch_with_a_mismatch() -> None:
    session = FakeSession(
        answer_0510(SettlementFlag.OUT_OF_BALANCE),
        answer_0510(SettlementFlag.OUT_OF_BALANCE, rc="95"),
    )
    result, books, _r, _a = await run(session)  # nothing owed: straight to the end
    assert books.settlements[-1] == (BATCH, TOTALS, "uploaded:95", True)
    assert (result.balanced, result.code, result.next_batch) == (
        False,
        "RECON.TOTALS_MISMATCH",
        "000043",
    )
    assert session.emitted == [(EventKind.FAULT, "RECON.TOTALS_MISMATCH")]


async def test_a_refused_upload_stops_with_the_batch_open() -> None:
    session = FakeSession(answer_0510(SettlementFlag.OUT_OF_BALANCE), answer("96"))
    result, books, _r, _a = await run(session, Books(owed_batch()))
    assert len(session.sent) == 2  # the 0500, the first 0320: then it stops
    assert (result.balanced, result.code, result.uploaded) == (False, "TXN.HOST_ERROR", 0)
    assert books.settlements == [(BATCH, TOTALS, "out_of_balance", False)]


async def test_rc95_alone_is_out_of_balance_only_in_the_configured_variant() -> None:
    """``practice.settle_rc95_out_of_balance``: for hosts that answer 95 with no field-48
    flag; otherwise 95 without a flag is an error and the batch stays open."""
    plain95 = answer("95", "0510")
    result, books, _r, _a = await run(FakeSession(plain95))
    assert (result.code, books.settlements) == (
        "TXN.HOST_ERROR",
        [(BATCH, TOTALS, "95", False)],
    )
    session = FakeSession(plain95, answer_0510(SettlementFlag.BALANCED))
    result, books, _r, _a = await run(session, rc95_variant=True)
    assert [m["t"] for m in session.sent] == ["0500", "0320"]
    assert result.balanced is True
    assert books.settlements[0] == (BATCH, TOTALS, "out_of_balance", False)
