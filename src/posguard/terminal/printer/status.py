"""Printer state from the four ESC/POS real-time status queries (DLE EOT n, n = 1..4).

Each query is ``10 04 n`` and the printer answers one byte, even while offline. The
bits used (Epson ESC/POS reference; Chinese thermal printers follow it):

=====  ====  ===========================================================
n      bit   meaning when set
=====  ====  ===========================================================
1      3     offline
1      5     waiting for online recovery
2      2     cover open
2      5     printing stopped: paper end
2      6     an error occurred (see n = 3)
3      3     auto-cutter error (paper jam at the cutter)
3      5     unrecoverable error (head, cutter motor, board: service needed)
3      6     automatically recoverable error (print head too hot)
4      2,3   roll paper near-end sensor: paper low
4      5,6   roll paper end sensor: no paper
=====  ====  ===========================================================

A valid status byte has bit 1 and bit 4 set and bits 0 and 7 clear
(``byte & 0x93 == 0x12``); anything else is not a status and is treated as no answer.

>>> decode_status(b"\\x16", b"\\x12", b"\\x12", b"\\x12")
<PrinterStatus.OK: 'ok'>
>>> decode_status(b"\\x1e", b"\\x32", b"\\x52", b"\\x7e")
<PrinterStatus.PAPER_OUT: 'paper_out'>
>>> PrinterStatus.PAPER_OUT.code
'PRN.PAPER_OUT'
>>> decode_status(b"\\x12", b"\\x12", b"\\x12", b"\\x1e")
<PrinterStatus.PAPER_LOW: 'paper_low'>
>>> decode_status(b"\\x1e", b"\\x52", b"\\x32", b"\\x12").code
'PRN.HARDWARE_FAULT'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

DLE_EOT: Final = b"\x10\x04"
QUERIES: Final = (1, 2, 3, 4)


class PrinterStatus(StrEnum):
    """What the printer can do now. ``code`` is the catalog code of a fault (None when fine)."""

    OK = "ok"
    PAPER_LOW = "paper_low"  # prints, but the roll is near its end
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    CUTTER_JAM = "cutter_jam"
    OVERHEAT = "overheat"
    HARDWARE_FAULT = "hardware_fault"  # unrecoverable error (head, cutter motor, board)
    OFFLINE = "offline"  # no (valid) answer, dead link, or printer says offline
    WRONG_PROFILE = "wrong_profile"

    @classmethod
    def _missing_(cls, value: object) -> PrinterStatus | None:
        # print queues written before HARDWARE_FAULT existed persisted "unrecoverable"
        return cls.HARDWARE_FAULT if value == "unrecoverable" else None

    @property
    def code(self) -> str | None:
        return _CODES[self]

    @property
    def can_print(self) -> bool:
        """True when a receipt sent now will come out whole."""
        return self in (PrinterStatus.OK, PrinterStatus.PAPER_LOW)


_CODES: Final[dict[PrinterStatus, str | None]] = {
    PrinterStatus.OK: None,
    PrinterStatus.PAPER_LOW: "PRN.PAPER_LOW",
    PrinterStatus.PAPER_OUT: "PRN.PAPER_OUT",
    PrinterStatus.COVER_OPEN: "PRN.COVER_OPEN",
    PrinterStatus.CUTTER_JAM: "PRN.CUTTER_JAM",
    PrinterStatus.OVERHEAT: "PRN.OVERHEAT",
    PrinterStatus.HARDWARE_FAULT: "PRN.HARDWARE_FAULT",
    PrinterStatus.OFFLINE: "PRN.OFFLINE",
    PrinterStatus.WRONG_PROFILE: "PRN.WRONG_PROFILE",
}


def valid_status_byte(b: int) -> bool:
    """Fixed bits of every DLE EOT answer: bit1 = bit4 = 1, bit0 = bit7 = 0."""
    return b & 0x93 == 0x12


@dataclass(frozen=True, slots=True)
class StatusBits:
    """The decoded flags of the four answers."""

    offline: bool = False
    cover_open: bool = False
    paper_end_stop: bool = False
    error: bool = False
    cutter_error: bool = False
    unrecoverable: bool = False
    auto_recoverable: bool = False
    near_end: bool = False
    paper_end: bool = False

    def status(self) -> PrinterStatus:
        """The one state that matters most, in the order a person must act on it."""
        if self.unrecoverable:
            return PrinterStatus.HARDWARE_FAULT
        if self.cover_open:
            return PrinterStatus.COVER_OPEN
        if self.paper_end or self.paper_end_stop:
            return PrinterStatus.PAPER_OUT
        if self.cutter_error:
            return PrinterStatus.CUTTER_JAM
        if self.auto_recoverable:
            return PrinterStatus.OVERHEAT
        if self.offline or self.error:
            return PrinterStatus.OFFLINE
        if self.near_end:
            return PrinterStatus.PAPER_LOW
        return PrinterStatus.OK


def decode_bits(s1: bytes, s2: bytes, s3: bytes, s4: bytes) -> StatusBits | None:
    """Decode the answers to DLE EOT 1..4; None when any is missing or malformed."""
    answers = (s1, s2, s3, s4)
    if any(len(a) != 1 or not valid_status_byte(a[0]) for a in answers):
        return None
    b1, b2, b3, b4 = (a[0] for a in answers)
    return StatusBits(
        offline=bool(b1 & 0x08),
        cover_open=bool(b2 & 0x04),
        paper_end_stop=bool(b2 & 0x20),
        error=bool(b2 & 0x40),
        cutter_error=bool(b3 & 0x08),
        unrecoverable=bool(b3 & 0x20),
        auto_recoverable=bool(b3 & 0x40),
        near_end=bool(b4 & 0x0C),
        paper_end=bool(b4 & 0x60),
    )


def decode_status(s1: bytes, s2: bytes, s3: bytes, s4: bytes) -> PrinterStatus:
    """The :class:`PrinterStatus` of four answers; no valid answer means OFFLINE."""
    bits = decode_bits(s1, s2, s3, s4)
    return PrinterStatus.OFFLINE if bits is None else bits.status()


def encode_status(bits: StatusBits) -> dict[int, bytes]:
    """The four answers a printer in state ``bits`` gives (used by the fake printer in tests).

    >>> encode_status(StatusBits(paper_end=True, paper_end_stop=True))[4]
    b'r'
    """
    b1 = 0x12 | (0x08 if bits.offline else 0)
    b2 = (
        0x12
        | (0x04 if bits.cover_open else 0)
        | (0x20 if bits.paper_end_stop else 0)
        | (0x40 if bits.error else 0)
    )
    b3 = (
        0x12
        | (0x08 if bits.cutter_error else 0)
        | (0x20 if bits.unrecoverable else 0)
        | (0x40 if bits.auto_recoverable else 0)
    )
    b4 = 0x12 | (0x0C if bits.near_end else 0) | (0x60 if bits.paper_end else 0)
    return {1: bytes([b1]), 2: bytes([b2]), 3: bytes([b3]), 4: bytes([b4])}
