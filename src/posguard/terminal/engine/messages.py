"""Build the profile's requests from journal records. PAN and expiry come in as arguments
(decrypted from the journal's vault by the caller) and go nowhere but into the message."""

from __future__ import annotations

from posguard.iso8583.codec import Message
from posguard.iso8583.fields import (
    MessageTypeCode,
    NetworkCode,
    SettlementTotals,
    UploadEntry,
    field60,
    field61,
    settlement_totals,
    unionpay_header,
    upload_entries,
)
from posguard.iso8583.operations import OPERATIONS
from posguard.iso8583.training import mark_training
from posguard.terminal.config import TerminalConfig
from posguard.terminal.journal.records import Record, Totals

PIN_CAPTURE_CODE = "12"
"""Field 26: the longest PIN the terminal accepts (12 digits)."""
SECURITY_CONTROL = "2600000000000000"
"""Field 53: PIN block format 2 (ISO 9564 format 0, with the PAN), algorithm 6 (double-length
3DES working key), the rest zeros."""


def entry_mode(pos: str, *, pin: bool) -> str:
    """Field 22: the card's entry (2 digits) then the PIN digit, 1 PIN entered, 2 no PIN.

    >>> entry_mode("051", pin=False), entry_mode("02", pin=True)
    ('052', '021')
    """
    return pos[:2] + ("1" if pin else "2")


def _base(cfg: TerminalConfig, mti: str, stan: str) -> Message:
    msg: Message = {"t": mti, "11": stan, "41": cfg.terminal_id, "42": cfg.merchant_id}
    if cfg.spec == "unionpay":
        msg["h"] = unionpay_header(tpdu_dest=cfg.tpdu[2:6], tpdu_src=cfg.tpdu[6:10])
    return msg


def sign_on(cfg: TerminalConfig, stan: str, batch: str) -> Message:
    return {
        **_base(cfg, "0800", stan),
        "60": field60(MessageTypeCode.ADMIN, batch, NetworkCode.SIGN_ON),
    }


def echo(cfg: TerminalConfig, stan: str, batch: str) -> Message:
    return {
        **_base(cfg, "0820", stan),
        "60": field60(MessageTypeCode.ADMIN, batch, NetworkCode.ECHO),
    }


def _card_fields(cfg: TerminalConfig, rec: Record, pan: str, expiry: str) -> Message:
    route = OPERATIONS[rec.kind]
    msg: Message = {
        "2": pan,
        "3": route.processing_code,
        "4": f"{rec.amount:012d}",
        "14": expiry,
        "22": rec.entry_mode,
        "25": route.condition,
        "49": rec.currency,
        "60": field60(route.type_code, rec.batch),
    }
    if rec.orig_stan is not None and rec.orig_batch is not None and rec.orig_date is not None:
        msg["61"] = field61(rec.orig_batch, rec.orig_stan, rec.orig_date)
        if rec.orig_rrn:
            msg["37"] = rec.orig_rrn
        if rec.orig_auth:
            msg["38"] = rec.orig_auth
    return msg


def financial(
    cfg: TerminalConfig, rec: Record, pan: str, expiry: str, pin_block: bytes | None = None
) -> Message:
    """The request of a sale, void, refund, inquiry, pre-auth, its void or completion."""
    route = OPERATIONS[rec.kind]
    msg: Message = {
        **_base(cfg, route.mti, rec.stan),
        **_card_fields(cfg, rec, pan, expiry),
        "12": rec.local_time,
        "13": rec.local_date,
    }
    if pin_block is not None:
        msg["52"] = pin_block
        msg["26"] = PIN_CAPTURE_CODE
        msg["53"] = SECURITY_CONTROL
    return mark_training(msg) if rec.training else msg


def reversal(cfg: TerminalConfig, rec: Record, pan: str, expiry: str, *, repeat: bool) -> Message:
    """0400 (first) or 0401 (repeat) carrying the original's fields and the reason in 39."""
    reason = rec.reversal_reason or "06"
    msg: Message = {
        **_base(cfg, "0401" if repeat else "0400", rec.stan),
        **_card_fields(cfg, rec, pan, expiry),
        "39": reason,
    }
    msg.pop("37", None)
    msg.pop("38", None)
    return mark_training(msg) if rec.training else msg


def settlement(cfg: TerminalConfig, stan: str, batch: str, totals: Totals) -> Message:
    t = SettlementTotals(
        totals.debit_count, totals.debit_amount, totals.credit_count, totals.credit_amount
    )
    return {
        **_base(cfg, "0500", stan),
        "48": settlement_totals(t),
        "49": cfg.currency,
        "60": field60(MessageTypeCode.ADMIN, batch, NetworkCode.SETTLEMENT),
    }


def batch_upload(cfg: TerminalConfig, rec: Record, pan: str, expiry: str) -> Message:
    """0320 for one transaction of the batch (60.3 = 201), under the transaction's own STAN."""
    route = OPERATIONS[rec.kind]
    msg: Message = {
        **_base(cfg, "0320", rec.stan),
        **_card_fields(cfg, rec, pan, expiry),
        "60": field60(route.type_code, rec.batch, NetworkCode.SETTLEMENT),
    }
    # 61 names the uploaded transaction itself, so the host finds it whichever of 11/61 it reads.
    msg["61"] = field61(rec.batch, rec.stan, rec.local_date)
    msg.pop("37", None)
    msg.pop("38", None)
    if rec.rrn:
        msg["37"] = rec.rrn
    if rec.auth_code:
        msg["38"] = rec.auth_code
    return msg


def batch_upload_swiped(
    cfg: TerminalConfig, stan: str, batch: str, entries: list[UploadEntry]
) -> Message:
    """0320 (60.3 = 201) carrying up to 8 magnetic-stripe transactions in field 48, as
    UnionPay terminals upload them (chip transactions go one per message)."""
    return {
        **_base(cfg, "0320", stan),
        "48": upload_entries(entries),
        "60": field60(MessageTypeCode.ADMIN, batch, NetworkCode.SETTLEMENT),
    }


def batch_upload_end(cfg: TerminalConfig, stan: str, batch: str, count: int) -> Message:
    """The last 0320 after an out-of-balance settlement (60.3 = 202); field 48 carries how
    many transactions were uploaded."""
    return {
        **_base(cfg, "0320", stan),
        "48": f"{count:04d}",
        "60": field60(MessageTypeCode.ADMIN, batch, NetworkCode.BATCH_UPLOAD_END),
    }
