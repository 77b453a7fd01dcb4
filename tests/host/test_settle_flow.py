"""Settlement and batch upload on their own, over an in-memory book (no sockets, no SQLite).

Rules (UnionPay POS practice, as :mod:`posguard.host.settle_flow` documents it): a 0500 whose
totals (field 48) agree with the host's is answered ``00`` with reconciliation code (对账应答代码)
``1`` and closes the batch; one that does not is answered ``95`` with code ``2``, the batch
stays open and the terminal uploads it (0320, 60.3 ``201``); the end of upload (60.3 ``202``)
is answered ``00`` with code ``1`` or ``2``, closes the batch, and sends every difference to
exception handling (差错处理) without moving the cardholder's money. The same flows over real
sockets: ``tests/host/test_reversal_settlement.py``.
"""

from __future__ import annotations

from posguard.host import settle_flow
from posguard.host.ledger import Txn, TxnStatus, Upload
from posguard.host.recon import ExceptionKind
from posguard.host.settlement import Totals
from posguard.iso8583.fields import SettlementFlag
from posguard.iso8583.operations import TxnKind

from .memory_book import MemoryBook, txn

TID, BATCH = "10000001", "000042"
PAN = "6214839000000000015"


def _book(
    *txns: Txn,
    settled: dict[tuple[str, str], tuple[str, str, bool, bool]] | None = None,
    uploaded: dict[tuple[str, str], dict[str, Upload]] | None = None,
) -> MemoryBook:
    """A book with ``txns`` in the terminal's open batch."""
    return MemoryBook(
        txns=txns, open_batches={TID: BATCH}, settled=settled or {}, uploaded=uploaded or {}
    )


def _sale_refund_and_decline() -> MemoryBook:
    return _book(
        txn(1, "000001", 1_000),
        txn(2, "000002", 300, kind="refund"),
        txn(3, "000003", 500, status=TxnStatus.DECLINED),
        uploaded={(TID, BATCH): {"000009": Upload("000009", "sale", 1, None, "")}},
    )


def test_settlement_in_balance_is_00_code_1_and_closes_the_batch() -> None:
    book = _sale_refund_and_decline()
    d = settle_flow.settle(book, TID, BATCH, Totals(1, 1_000, 1, 300))
    assert (d.rc, d.settle_flag, d.totals) == (
        "00",
        SettlementFlag.BALANCED,
        Totals(1, 1_000, 1, 300),
    )
    assert d.reason == "settlement in balance; batch closed, next 000043"
    assert book.open_batches == {TID: "000043"}
    totals = Totals(1, 1_000, 1, 300).encode()
    assert book.settled == {(TID, BATCH): (totals, totals, True, False)}
    assert book.uploads(TID, BATCH) == {}


def test_settlement_out_of_balance_is_95_code_2_and_keeps_the_batch_open_for_the_upload() -> None:
    book = _sale_refund_and_decline()
    d = settle_flow.settle(book, TID, BATCH, Totals(1, 1_000, 0, 0))
    assert (d.rc, d.settle_flag) == ("95", SettlementFlag.OUT_OF_BALANCE)
    assert d.totals == Totals(1, 1_000, 1, 300)  # the host's, for the terminal to compare
    assert book.open_batches == {TID: BATCH}
    assert book.settled[(TID, BATCH)][2:] == (False, False)
    assert book.uploads(TID, BATCH) == {}  # the upload starts afresh


def test_a_repeated_balanced_settlement_answers_00_and_does_not_skip_a_batch() -> None:
    book = _sale_refund_and_decline()
    settle_flow.settle(book, TID, BATCH, Totals(1, 1_000, 1, 300))
    again = settle_flow.settle(book, TID, BATCH, Totals(1, 1_000, 1, 300))
    assert (again.rc, again.reason) == ("00", "settlement in balance")
    assert book.open_batches == {TID: "000043"}


def test_an_upload_keeps_the_card_as_its_keyed_hash_and_masked_never_in_clear() -> None:
    book = _book()
    d = settle_flow.upload(book, TID, BATCH, TxnKind.SALE, "000007", 700, PAN)
    assert d.rc == "00"
    [up] = book.uploads(TID, BATCH).values()
    assert up == Upload("000007", "sale", 700, b"ref:" + PAN.encode(), "621483*********0015")
    assert PAN not in repr((up.stan, up.kind, up.amount, up.pan_masked))


def test_end_of_upload_without_a_settlement_is_12_and_writes_nothing() -> None:
    book = _book(txn(1, "000001", 1_000))
    d = settle_flow.end_upload(book, TID, BATCH)
    assert d.rc == "12"
    assert book.writes == []


def _out_of_balance_round() -> MemoryBook:
    """Host: 000001 1,000, 000002 4,000 (its answer was lost), 000003 2,000. Terminal: 000001
    as the host has it, 000003 at 2,500, and 000004 (700) the host never approved."""
    book = _book(txn(1, "000001", 1_000), txn(2, "000002", 4_000), txn(3, "000003", 2_000))
    assert settle_flow.settle(book, TID, BATCH, Totals(3, 4_200, 0, 0)).rc == "95"
    for stan, amount in (("000001", 1_000), ("000003", 2_500), ("000004", 700)):
        settle_flow.upload(book, TID, BATCH, TxnKind.SALE, stan, amount, PAN)
    book.writes.clear()
    return book


def test_end_of_upload_records_each_difference_and_moves_no_money() -> None:
    book = _out_of_balance_round()
    d = settle_flow.end_upload(book, TID, BATCH)
    assert (d.rc, d.settle_flag) == ("00", SettlementFlag.OUT_OF_BALANCE)
    assert d.totals == Totals(3, 7_000, 0, 0)
    assert "3 differences for exception handling (3 new); batch closed, next 000043" in d.reason
    found = {(e.stan, e.kind, e.host_amount, e.terminal_amount) for e in book.recorded.values()}
    assert found == {
        ("000002", ExceptionKind.MISSING_ON_TERMINAL, 4_000, None),
        ("000003", ExceptionKind.AMOUNT_DIFFERS, 2_000, 2_500),
        ("000004", ExceptionKind.MISSING_ON_HOST, None, 700),
    }
    # A settlement book has no way to move money; and it writes only these:
    assert set(book.writes) == {"record_exception", "record_settlement", "set_open_batch"}
    assert book.settled[(TID, BATCH)][2:] == (False, True)
    assert book.open_batches == {TID: "000043"}


def test_a_repeated_end_of_upload_answers_the_same_and_records_nothing_new() -> None:
    book = _out_of_balance_round()
    first = settle_flow.end_upload(book, TID, BATCH)
    recorded, writes = dict(book.recorded), len(book.writes)
    again = settle_flow.end_upload(book, TID, BATCH)
    assert (again.rc, again.settle_flag, again.totals) == (
        first.rc,
        first.settle_flag,
        first.totals,
    )
    assert again.reason.startswith("repeated end of batch upload")
    assert (book.recorded, len(book.writes)) == (recorded, writes)
    assert set(book.uploads(TID, BATCH)) == {"000001", "000003", "000004"}
    assert book.open_batches == {TID: "000043"}


def test_end_of_upload_in_balance_is_code_1_with_no_difference() -> None:
    """The terminal's 0500 totals and its upload agree with the books (the 0500 was out of
    balance because an advice reached the host after it)."""
    totals = Totals(1, 1_000, 0, 0).encode()
    book = _book(
        txn(1, "000001", 1_000),
        settled={(TID, BATCH): (totals, Totals(0, 0, 0, 0).encode(), False, False)},
    )
    settle_flow.upload(book, TID, BATCH, TxnKind.SALE, "000001", 1_000, PAN)
    d = settle_flow.end_upload(book, TID, BATCH)
    assert (d.rc, d.settle_flag) == ("00", SettlementFlag.BALANCED)
    assert d.reason == "batch upload: in balance; batch closed, next 000043"
    assert book.recorded == {}
    assert book.settled[(TID, BATCH)] == (totals, totals, True, True)


def test_end_of_upload_with_matching_uploads_but_wrong_0500_totals_is_code_2() -> None:
    book = _book(txn(1, "000001", 1_000))
    assert settle_flow.settle(book, TID, BATCH, Totals(1, 999, 0, 0)).rc == "95"
    settle_flow.upload(book, TID, BATCH, TxnKind.SALE, "000001", 1_000, PAN)
    d = settle_flow.end_upload(book, TID, BATCH)
    assert (d.rc, d.settle_flag) == ("00", SettlementFlag.OUT_OF_BALANCE)
    assert book.recorded == {}
