"""``Exchange`` on its own: the request it builds from the journal record and how it reads the
host session's reply (link status, then field 39), with a fake session scripted to answer. No
sockets, no SQLite. The rules are UnionPay practice for field 39 (see ``engine/exchange.py``)."""

from __future__ import annotations

import pytest

from posguard.iso8583.training import FIELD as TRAINING_FIELD
from posguard.iso8583.training import MARK as TRAINING_MARK
from posguard.terminal.engine.context import Context, Failure
from posguard.terminal.engine.exchange import CONFIRM_WITH_ISSUER, TRAINING_NOT_HONOURED, Exchange
from posguard.terminal.engine.flow import ABORTED, PREPARED, Verdict
from posguard.terminal.engine.session import Reply, Status
from posguard.terminal.journal.records import Kind, Record

from .engine_fakes import HOST, PAN, FakeSession, config, context, ok, record

PIN_BLOCK = bytes.fromhex("0123456789abcdef")


async def exchange(
    reply: Reply, *, rec: Record | None = None, partial_approval: bool = False, **inp: object
) -> tuple[Verdict, Context, FakeSession]:
    """Run ``Exchange.prepare`` for a sale of 10.00 (or ``rec``) answered with ``reply``."""
    session = FakeSession(reply)
    ctx = context(rec or record(), **inp)
    step = Exchange(cfg=config(partial_approval=partial_approval), session=session)
    return await step.prepare(ctx), ctx, session


async def test_the_request_is_built_from_the_journal_record() -> None:
    rec = record(stan="000777", amount=2500)
    _v, ctx, session = await exchange(ok("00"), rec=rec, amount=2500, pin_block=PIN_BLOCK)
    (sent,) = session.sent
    assert sent is ctx.request
    assert (sent["t"], sent["11"], sent["2"], sent["4"]) == ("0200", "000777", PAN, "000000002500")
    assert sent["52"] == PIN_BLOCK
    assert TRAINING_FIELD not in sent


async def test_a_follow_up_carries_no_pin_block() -> None:
    orig = record(id=9, stan="000100", rrn="123456789000", auth_code="AB0001")
    void = record(
        kind=Kind.VOID,
        orig_id=9,
        orig_stan="000100",
        orig_batch="000001",
        orig_date="1202",
        orig_rrn="123456789000",
        orig_auth="AB0001",
    )
    _v, _ctx, session = await exchange(
        ok("00"), rec=void, kind=Kind.VOID, orig=orig, pin_block=PIN_BLOCK
    )
    (sent,) = session.sent
    assert sent["37"] == "123456789000"  # the original's RRN: it is the void's request
    assert "52" not in sent
    assert "26" not in sent


@pytest.mark.parametrize("rc", ["00", "11"])
async def test_an_approval_goes_on_to_completion(rc: str) -> None:
    verdict, ctx, session = await exchange(ok(rc))
    assert verdict is PREPARED
    assert (ctx.rc, ctx.code, ctx.failure, ctx.host) == (rc, None, None, HOST)
    assert ctx.answer is not None
    assert ctx.answer["37"] == "123456789012"
    assert ctx.notes == []
    assert session.sign_on_calls == 0


@pytest.mark.parametrize("rc", ["A2", "A4", "A5", "A6"])
async def test_a_defective_success_is_completed_with_a_note(rc: str) -> None:
    """UnionPay practice: A2/A4/A5/A6 are defective successes, completed and printed like an
    approval, with a note telling the operator to confirm with the issuer."""
    verdict, ctx, _s = await exchange(ok(rc, code="TXN.APPROVED_WITH_DEFECT"))
    assert verdict is PREPARED
    assert (ctx.rc, ctx.code, ctx.failure) == (rc, "TXN.APPROVED_WITH_DEFECT", None)
    assert ctx.notes == [CONFIRM_WITH_ISSUER]


@pytest.mark.parametrize(
    ("field54", "balance"),
    [("1002156C000000012345", 12345), ("1002156D000000000500", -500)],
)
async def test_the_balance_in_field_54_is_read(field54: str, balance: int) -> None:
    """ISO 8583 field 54 (additional amounts): account type, amount type, currency, sign C/D,
    12-digit amount."""
    inquiry = record(kind=Kind.BALANCE, reversal_reason=None)
    msg = ok("00", **{"54": field54})
    verdict, ctx, _s = await exchange(msg, rec=inquiry, kind=Kind.BALANCE, amount=0)
    assert verdict is PREPARED
    assert ctx.balance == balance


async def test_an_unreadable_field_54_gives_no_balance() -> None:
    _v, ctx, _s = await exchange(ok("00", **{"54": "1002156C00000001234X"}))
    assert ctx.balance is None


# -- a partial approval (10) -------------------------------------------------------------------


async def test_a_partial_approval_is_for_field_4_when_the_configuration_accepts_it() -> None:
    """UnionPay practice: 10 approves the amount in field 4 of the answer."""
    msg = ok("10", **{"4": "000000000600"})
    verdict, ctx, _s = await exchange(msg, partial_approval=True)
    assert verdict is PREPARED
    assert (ctx.approved_amount, ctx.failure) == (600, None)
    assert ctx.notes == ["partial approval: 600 of 1000 approved"]


async def test_a_partial_approval_not_accepted_is_reversed_for_the_amount_approved() -> None:
    """UnionPay practice: a partial approval the terminal does not accept is reversed (96),
    never silently dropped; the reversal is for what the host approved."""
    verdict, ctx, _s = await exchange(ok("10", **{"4": "000000000600"}))
    assert verdict is ABORTED
    assert (ctx.failure, ctx.code, ctx.rc) == (Failure.NOT_COMPLETED, None, "10")
    assert ctx.approved_amount == 600
    assert "not accepted by the configuration" in ctx.notes[0]


@pytest.mark.parametrize("field4", ["000000000000", "000000001001", "00000000060X"])
async def test_a_partial_approval_with_an_unusable_field_4_is_reversed(field4: str) -> None:
    verdict, ctx, _s = await exchange(ok("10", **{"4": field4}), partial_approval=True)
    assert verdict is ABORTED
    assert (ctx.failure, ctx.code, ctx.rc) == (Failure.NOT_COMPLETED, "TXN.INVALID_AMOUNT", "10")
    assert ctx.approved_amount is None


# -- training mode ---------------------------------------------------------------------------


async def test_a_training_request_carries_the_mark_and_its_approval_must_echo_it() -> None:
    """Training mode (docs/iso8583-profile.md): a practice request carries field 63 TRAINING;
    a host that honours it echoes the mark in the answer."""
    practice = record(training=True)
    msg = ok("00", **{TRAINING_FIELD: TRAINING_MARK})
    verdict, ctx, session = await exchange(msg, rec=practice, training=True)
    assert session.sent[0][TRAINING_FIELD] == TRAINING_MARK
    assert verdict is PREPARED
    assert ctx.failure is None


async def test_a_training_sale_approved_as_live_is_reversed() -> None:
    """Training mode: an approval without the mark came from a host that may have booked the
    sale; it is reversed (96) with CFG.TRAINING_NOT_SUPPORTED."""
    verdict, ctx, _s = await exchange(ok("00"), rec=record(training=True), training=True)
    assert verdict is ABORTED
    assert (ctx.failure, ctx.code, ctx.rc) == (Failure.NOT_COMPLETED, TRAINING_NOT_HONOURED, "00")
    assert ctx.notes == ["training transaction approved as live by the host: reversed"]


async def test_a_training_sale_declined_is_simply_declined() -> None:
    verdict, ctx, _s = await exchange(ok("51"), rec=record(training=True), training=True)
    assert verdict is ABORTED
    assert ctx.failure is Failure.DECLINED


# -- declines --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rc", "code"),
    [
        ("51", "TXN.INSUFFICIENT_FUNDS"),
        ("05", "TXN.DO_NOT_HONOR"),
        ("96", "TXN.HOST_ERROR"),
        ("98", "TXN.ISSUER_UNAVAILABLE"),
    ],
)
async def test_any_other_code_is_the_hosts_decline_nothing_to_reverse(rc: str, code: str) -> None:
    """UnionPay practice: a code outside the approved class is the host's decision: declined,
    nothing charged, no reversal, even 96 and 98 received in field 39."""
    verdict, ctx, session = await exchange(ok(rc, code=code))
    assert verdict is ABORTED
    assert (ctx.failure, ctx.code, ctx.rc) == (Failure.DECLINED, code, rc)
    assert ctx.sign_on_again is False
    assert session.sign_on_calls == 0


async def test_a_decline_without_a_code_takes_the_response_codes_own() -> None:
    _v, ctx, _s = await exchange(ok("55"))
    assert (ctx.failure, ctx.code) == (Failure.DECLINED, "TXN.WRONG_PIN")


@pytest.mark.parametrize("rc", ["77", "99", "A0"])
async def test_a_stale_session_is_declined_and_flagged_for_sign_on(rc: str) -> None:
    """UnionPay practice: 77 / 99 / A0 drop the working keys; the terminal signs on again at
    once (SignedOn's abort, after the record is resolved), the operator retries."""
    verdict, ctx, session = await exchange(ok(rc))
    assert verdict is ABORTED
    assert (ctx.failure, ctx.rc) == (Failure.DECLINED, rc)
    assert ctx.sign_on_again is True
    assert session.sign_on_calls == 0  # not here: the record is resolved first


# -- the link or the answer failed -----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "failure", "code"),
    [
        (Status.NOT_SENT, Failure.NOT_SENT, "NET.CONNECT_REFUSED"),
        (Status.NO_ANSWER, Failure.NO_ANSWER, "NET.READ_TIMEOUT"),
        (Status.BAD_ANSWER, Failure.BAD_ANSWER, "TXN.FORMAT_ERROR"),
    ],
)
async def test_a_failed_exchange_says_why(status: Status, failure: Failure, code: str) -> None:
    verdict, ctx, session = await exchange(Reply(status, None, HOST, code))
    assert verdict is ABORTED
    assert (ctx.failure, ctx.code, ctx.rc, ctx.host) == (failure, code, None, HOST)
    assert session.sign_on_calls == 0


async def test_a_bad_mac_signs_on_again_for_the_reversal() -> None:
    """The answer's MAC failed: the keys are dropped, so the terminal signs on at once; the
    reversal (A0) queued on abort is MACed with the new keys."""
    reply = Reply(Status.BAD_MAC, {"t": "0210", "39": "00"}, HOST, "TXN.MAC_ERROR")
    verdict, ctx, session = await exchange(reply)
    assert verdict is ABORTED
    assert (ctx.failure, ctx.code, ctx.rc) == (Failure.BAD_MAC, "TXN.MAC_ERROR", "00")
    assert session.sign_on_calls == 1
