"""Receipt data for a completed journal record: the merchant copy, then the cardholder copy."""

from __future__ import annotations

from datetime import datetime

from posguard.terminal.config import TerminalConfig
from posguard.terminal.journal.records import Record
from posguard.terminal.printer.receipt import ReceiptData

_CURRENCY = {"156": "CNY", "344": "HKD", "446": "MOP", "840": "USD", "978": "EUR"}
_ENTRY = {"02": "swipe", "05": "chip", "07": "contactless", "01": "keyed"}


def fault_slip(cfg: TerminalConfig, rec: Record) -> ReceiptData:
    """The slip printed when a reversal is given up on (RECON.REVERSAL_FAILED): the record's
    trace data, for the merchant to reconcile by hand."""
    return _merchant_copy(cfg, rec, txn_type="reversal_failed")


def receipt_copies(cfg: TerminalConfig, rec: Record) -> list[ReceiptData]:
    original = None
    if rec.orig_stan:
        original = rec.orig_rrn or f"{rec.orig_batch}/{rec.orig_stan}"
    merchant = _merchant_copy(cfg, rec, txn_type=rec.kind.value, original=original)
    return [merchant, merchant.as_copy("cardholder")]


def _merchant_copy(
    cfg: TerminalConfig, rec: Record, *, txn_type: str, original: str | None = None
) -> ReceiptData:
    """The merchant copy of a slip for ``rec`` (the one place a record becomes receipt data)."""
    return ReceiptData(
        merchant_name=cfg.merchant_name or cfg.merchant_id,
        merchant_id=cfg.merchant_id,
        terminal_id=cfg.terminal_id,
        operator=cfg.operator,
        txn_type=txn_type,
        masked_pan=rec.masked_pan,
        card_brand=rec.brand,
        entry_mode=_ENTRY.get(rec.entry_mode[:2], rec.entry_mode),
        amount_minor=rec.amount,
        currency=_CURRENCY.get(rec.currency, "CNY"),
        batch=rec.batch,
        stan=rec.stan,
        rrn=rec.rrn or "",
        auth_code=rec.auth_code or "",
        ts=datetime.now(),
        original=original,
        copy="merchant",
        training=rec.training,
    )
