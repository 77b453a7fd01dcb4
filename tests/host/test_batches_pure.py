"""The host's batch keeping on its own, over an in-memory book (no sockets, no SQLite).

Rules (UnionPay POS practice, as :mod:`posguard.host.batches` documents it): the batch number
is the host's; 签到 (sign-on) answers the open batch in the 0810's field 60.2, and a terminal
the host has no batch for gets the one it asked with unless that one is already settled (then
the one after the last settled batch); settlement closes the open batch and opens the next
number (999999 wraps to 000001); a card request outside the open batch, or a settlement of a
batch neither open nor settled, is refused 77 (批次号/签到不符). The same rules over real
sockets: ``tests/host/test_batch_sign_on.py``.
"""

from __future__ import annotations

import pytest

from posguard.host import batches

from .memory_book import MemoryBook

TID = "10000001"
SETTLED = ("000000000000000", "000000000000000", True, False)


def test_sign_on_keeps_the_batch_the_host_has_open_whatever_the_terminal_asks() -> None:
    book = MemoryBook(open_batches={TID: "000007"})
    assert batches.assign_at_sign_on(book, TID, "000001") == "000007"
    assert book.writes == []


@pytest.mark.parametrize(
    ("offered", "opened"),
    [("000005", "000005"), ("000000", "000001"), ("12345", "000001"), ("ABCDEF", "000001")],
)
def test_first_sign_on_opens_the_offered_batch_or_000001_when_it_is_not_a_batch(
    offered: str, opened: str
) -> None:
    book = MemoryBook()
    assert batches.assign_at_sign_on(book, TID, offered) == opened
    assert book.open_batches == {TID: opened}


def test_first_sign_on_with_an_already_settled_batch_opens_the_one_after_the_last_settled() -> None:
    """A terminal that lost its state asks with an old batch: reusing it would mix two batches
    under one number."""
    book = MemoryBook(settled={(TID, "000003"): SETTLED, (TID, "000009"): SETTLED})
    assert batches.assign_at_sign_on(book, TID, "000003") == "000010"
    assert book.open_batches == {TID: "000010"}


def test_sign_on_of_another_terminal_does_not_see_this_ones_batches() -> None:
    book = MemoryBook(open_batches={TID: "000007"}, settled={(TID, "000003"): SETTLED})
    assert batches.assign_at_sign_on(book, "10000002", "000003") == "000003"
    assert book.open_batches == {TID: "000007", "10000002": "000003"}


@pytest.mark.parametrize("mti", ["0100", "0200", "0220"])
def test_a_card_request_outside_the_open_batch_is_refused_with_the_reason(mti: str) -> None:
    book = MemoryBook(open_batches={TID: "000003"})
    assert batches.mismatch(book, TID, mti, "000003") is None
    why = batches.mismatch(book, TID, mti, "000002")
    assert why == "batch 000002 is not the terminal's open batch 000003: sign on again"


def test_a_card_request_in_a_settled_batch_is_refused_all_the_same() -> None:
    book = MemoryBook(open_batches={TID: "000003"}, settled={(TID, "000002"): SETTLED})
    assert batches.mismatch(book, TID, "0200", "000002") is not None


@pytest.mark.parametrize("mti", ["0320", "0500"])
def test_a_settlement_may_repeat_a_settled_batch_but_not_name_an_unknown_one(mti: str) -> None:
    """A repeated 0500 / 0320 after a lost answer names the batch the host just closed."""
    book = MemoryBook(open_batches={TID: "000003"}, settled={(TID, "000002"): SETTLED})
    assert batches.mismatch(book, TID, mti, "000003") is None
    assert batches.mismatch(book, TID, mti, "000002") is None
    assert batches.mismatch(book, TID, mti, "000009") is not None


@pytest.mark.parametrize("mti", ["0400", "0401", "0800", "0820"])
def test_reversals_and_network_messages_are_not_checked(mti: str) -> None:
    book = MemoryBook(open_batches={TID: "000003"})
    assert batches.mismatch(book, TID, mti, "000002") is None


def test_nothing_is_refused_before_the_host_has_a_batch_for_the_terminal() -> None:
    assert batches.mismatch(MemoryBook(), TID, "0200", "000002") is None


@pytest.mark.parametrize(("open_", "following"), [("000041", "000042"), ("999999", "000001")])
def test_close_opens_the_next_number(open_: str, following: str) -> None:
    book = MemoryBook(open_batches={TID: open_})
    with book.atomic():
        assert batches.close(book, TID, open_) == following
    assert book.open_batches == {TID: following}


def test_closing_a_batch_that_is_not_the_open_one_changes_nothing() -> None:
    """A repeated settlement of the batch already closed must not skip a batch number."""
    book = MemoryBook(open_batches={TID: "000042"})
    with book.atomic():
        assert batches.close(book, TID, "000041") is None
    assert book.open_batches == {TID: "000042"}
    assert book.writes == []
