"""A slip's amount sign comes from the operation table (iso8583/operations.py), not from a
list of its own: money back to the card (the credit total of settlement) or the cancellation
of an earlier transaction prints negative, everything else positive."""

from __future__ import annotations

import dataclasses

import pytest

from posguard.iso8583.operations import CREDITS, DEBITS, OPERATIONS, Side, TxnKind
from posguard.terminal.printer.dump import dump_escpos
from posguard.terminal.printer.profiles import load_profile
from posguard.terminal.printer.renderer import ReceiptRenderer, prints_negative
from posguard.terminal.printer.testing import sample_receipt

PROFILE = load_profile("generic-58-gbk")


def _printed_amount(kind: TxnKind) -> str:
    receipt = dataclasses.replace(sample_receipt(), txn_type=kind.value, amount_minor=12345)
    text = dump_escpos(ReceiptRenderer(PROFILE).render(receipt), PROFILE.encoding)
    return next(line for line in text.split("\n") if "123.45" in line)


@pytest.mark.parametrize("kind", list(TxnKind))
def test_every_kind_prints_the_sign_the_operation_table_gives(kind: TxnKind) -> None:
    op = OPERATIONS[kind]
    gives_back = op.side is Side.CREDIT or kind.cancels_original
    assert prints_negative(kind) is gives_back
    assert ("RMB -123.45" in _printed_amount(kind)) is gives_back
    assert ("RMB 123.45" in _printed_amount(kind)) is not gives_back


def test_settlement_sides_agree_with_the_printed_sign() -> None:
    """Every credit-side kind prints negative, no debit-side kind does, and each void prints
    the opposite sign of the sale-like kind it cancels."""
    assert CREDITS
    assert all(prints_negative(k) for k in CREDITS)
    assert DEBITS
    assert not any(prints_negative(k) for k in DEBITS)
    for void, original in (
        (TxnKind.VOID, TxnKind.SALE),
        (TxnKind.PREAUTH_VOID, TxnKind.PREAUTH),
        (TxnKind.COMPLETION_VOID, TxnKind.COMPLETION),
    ):
        assert prints_negative(void)
        assert not prints_negative(original)


def test_the_fault_slip_prints_its_amount_as_recorded() -> None:
    receipt = dataclasses.replace(sample_receipt(), txn_type="reversal_failed", amount_minor=500)
    data = ReceiptRenderer(PROFILE).render(receipt)
    assert b"RMB 5.00" in data
    assert b"RMB -5.00" not in data
