"""The operation table (posguard.iso8583.operations) against the published values, and the
terminal, the host and the settlement totals all reading that one table.

Source of the published rows: 中国银联 POS 终端消息域说明 (China UnionPay, May 2002), section
1 "说明", the table of the elements that determine a transaction type: 交易类型, 处理码
(field 3), 服务点条件码 (field 25), 消息类型 (request/answer MTI), 交易类型码 (60.1) and
是否引发冲正 (whether a lost answer is reversed). The rows below are transcribed from that
table, not from our code. The debit/credit split of the settlement totals follows the
same document's field 48 (借记 = 消费 and 预授权完成, 贷记 = 退货; a pre-authorisation is a
hold and a void cancels its original, so neither is counted), and the advice rule is ISO
8583:1987's message function (third MTI digit 2 = advice).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from posguard.iso8583 import operations
from posguard.iso8583.fields import answer_mti, parse_field60
from posguard.iso8583.operations import (
    CREDITS,
    DEBITS,
    OPERATIONS,
    Side,
    TxnKind,
    classify,
    classify_original,
)

# (交易类型, kind, field 3, field 25, request MTI, answer MTI, 60.1, reversed when lost)
PUBLISHED = [
    ("查询", TxnKind.BALANCE, "310000", "00", "0200", "0210", "01", False),
    ("预授权", TxnKind.PREAUTH, "030000", "06", "0100", "0110", "10", True),
    ("预授权撤消", TxnKind.PREAUTH_VOID, "200000", "06", "0100", "0110", "11", True),
    ("预授权完成", TxnKind.COMPLETION, "000000", "06", "0200", "0210", "20", True),
    ("预授权完成撤消", TxnKind.COMPLETION_VOID, "200000", "06", "0200", "0210", "21", True),
    ("消费", TxnKind.SALE, "000000", "00", "0200", "0210", "22", True),
    ("消费撤消", TxnKind.VOID, "200000", "00", "0200", "0210", "23", True),
    ("退货", TxnKind.REFUND, "200000", "00", "0220", "0230", "25", False),
]
PUBLISHED_DEBITS = {TxnKind.SALE, TxnKind.COMPLETION}
PUBLISHED_CREDITS = {TxnKind.REFUND}


def test_every_kind_has_exactly_one_published_row() -> None:
    assert sorted(r[1] for r in PUBLISHED) == sorted(TxnKind)
    assert set(OPERATIONS) == set(TxnKind)


@pytest.mark.parametrize("row", PUBLISHED, ids=[r[1].value for r in PUBLISHED])
def test_table_matches_the_published_row(row: tuple) -> None:
    _name, kind, f3, f25, mti, answer, type_code, reversed_ = row
    op = OPERATIONS[kind]
    assert (op.mti, op.processing_code, op.condition, op.type_code) == (mti, f3, f25, type_code)
    assert answer_mti(op.mti) == answer
    assert op.reversible is reversed_
    assert kind.reversible is reversed_


def test_settlement_sides_match_field_48() -> None:
    assert DEBITS == PUBLISHED_DEBITS
    assert CREDITS == PUBLISHED_CREDITS
    for kind in TxnKind:
        side = OPERATIONS[kind].side
        expected = (
            Side.DEBIT
            if kind in PUBLISHED_DEBITS
            else Side.CREDIT
            if kind in PUBLISHED_CREDITS
            else Side.NONE
        )
        assert side is expected, kind


def test_only_the_refund_is_an_advice() -> None:
    """ISO 8583:1987: an MTI whose third digit is 2 is an advice (0220 refund)."""
    assert {k for k in TxnKind if k.is_advice} == {TxnKind.REFUND}


def test_wire_values_classify_back_to_their_kind() -> None:
    for _n, kind, f3, _f25, mti, _a, type_code, _r in PUBLISHED:
        assert classify(mti, f3, type_code) is kind
        assert classify_original(f3, type_code) is kind
    assert classify("0200", "000000", "23") is None  # a sale's code with a void's 60.1
    assert classify("0220", "000000", "22") is None  # a sale sent as an advice
    assert classify_original("999999", "22") is None


def test_terminal_builds_its_requests_from_the_published_values(tmp_path: Path) -> None:
    """Every request the terminal builds carries the published MTI, 3, 25 and 60.1."""
    from posguard.terminal.engine import messages
    from posguard.terminal.journal.records import Kind, Record, TxnState
    from posguard.terminal.testing import local_config

    assert Kind is TxnKind  # one enum: the journal's kinds are the table's
    cfg = local_config([5800], tmp_path)
    for _n, kind, f3, f25, mti, _a, type_code, _r in PUBLISHED:
        rec = Record(
            id=1,
            stan="000007",
            batch="000001",
            kind=kind,
            state=TxnState.SENDING,
            amount=100,
            currency="156",
            masked_pan="621483*********0015",
            brand="unionpay",
            entry_mode="052",
            local_date="1202",
            local_time="103000",
            created_at="2026-12-02T10:30:00+00:00",
        )
        msg = messages.financial(cfg, rec, "6214839000000000015", "3012")
        assert (msg["t"], msg["3"], msg["25"]) == (mti, f3, f25), kind
        assert parse_field60(str(msg["60"])).type_code == type_code, kind


def test_host_classifies_with_the_shared_table() -> None:
    """The host's dispatch, issuer and settlement read the one table (no copy of their own)."""
    from posguard.host import handler, issuer, settlement

    assert handler.classify is operations.classify
    assert handler.classify_original is operations.classify_original
    assert handler.TxnKind is TxnKind
    assert issuer.TxnKind is TxnKind
    assert (settlement.DEBITS, settlement.CREDITS) == (operations.DEBITS, operations.CREDITS)


def test_terminal_journal_totals_count_by_the_table_side(tmp_path: Path) -> None:
    """A completed transaction of each kind lands in the total its side names, or in none."""
    from posguard.terminal.journal.records import TxnState
    from posguard.terminal.journal.store import Draft, Journal

    j = Journal.open(tmp_path / "j.db", key=b"k" * 16, terminal_id="70000001")
    try:
        amounts = {}
        for i, kind in enumerate(TxnKind):
            amount = 100 * (i + 1)
            rec = j.begin(Draft(kind, amount, "6214839000000000015", "3012", "052"))
            rec = j.mark_approved(rec.id, rc="00", rrn=None, auth_code=None, host="primary")
            if rec.state is not TxnState.COMPLETED:
                j.mark_completed(rec.id)
            amounts[kind] = amount
        t = j.totals()
    finally:
        j.close()
    assert (t.debit_count, t.debit_amount) == (
        len(DEBITS),
        sum(amounts[k] for k in DEBITS),
    )
    assert (t.credit_count, t.credit_amount) == (
        len(CREDITS),
        sum(amounts[k] for k in CREDITS),
    )


def test_mandatory_fields_follow_the_table() -> None:
    """Every operation of the table has its mandatory-field rule; one naming an original
    must carry it (61, and the original's RRN in 37), and only a balance inquiry may omit
    the amount."""
    from posguard.iso8583.mandatory import missing_fields

    for kind, op in OPERATIONS.items():
        bare = {"t": op.mti, "3": op.processing_code, "60": f"{op.type_code}000001000"}
        missing = set(missing_fields(bare))
        assert ("61" in missing) is op.original, kind
        assert ("37" in missing) is op.original, kind
        assert ("4" in missing) is (kind is not TxnKind.BALANCE), kind
